"""The plugins-folder entry to dataproducts' Airflow plugin (see dataproducts.airflow.plugin).

Airflow's plugins-folder scan runs this file as a top-level module; `.airflowignore` keeps the
scan out of the package itself. Where the installed package also provides the plugin through its
entry point, this file steps aside, so the plugin is registered exactly once.
"""

from dataproducts.airflow.plugin import DataProductsPlugin, provided_by_entry_point

if provided_by_entry_point():
    del DataProductsPlugin
