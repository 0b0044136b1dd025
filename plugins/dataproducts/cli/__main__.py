import sys

from dataproducts.cli import main

sys.exit(main())
