"""Commands that drive a running Airflow: rebuild a date downstream, run the demo (on either stack)."""

from __future__ import annotations

import sys

from dataproducts.cli.airflow_access import add_airflow_options, airflow_api, airflow_failed
from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core.project import Project


def register(sub) -> None:
    rerun = sub.add_parser("rerun", help="rebuild business dates of a product and of everything downstream of them")
    rerun.add_argument("product_id")
    rerun.add_argument("--business-date", help="YYYY-MM-DD: the one date to rebuild")
    rerun.add_argument("--start", help="YYYY-MM-DD: the first date of a range to rebuild (a backfill), with --end")
    rerun.add_argument("--end", help="YYYY-MM-DD: the last date of the range (inclusive)")
    add_airflow_options(rerun)
    rerun.add_argument(
        "--full-refresh",
        action="store_true",
        help="recreate the product's tables (dbt --full-refresh) with the first date; later dates are added to them",
    )
    rerun.add_argument(
        "--no-downstream", action="store_true", help="rebuild only the product (its trigger: any consumers still follow)"
    )
    rerun.add_argument("--restart", action="store_true", help="rebuild every date, even those an interrupted rerun finished")
    rerun.add_argument("--dry-run", action="store_true", help="print what would be rebuilt, in order, and stop")
    rerun.add_argument("--timeout", type=int, default=3600)
    rerun.set_defaults(handler=cmd_rerun)
    demo = sub.add_parser("demo", help="run the example mesh under Airflow's scheduler on the embedded default")
    demo.add_argument(
        "--stack",
        choices=["embedded", "celery"],
        default="embedded",
        help="embedded: LocalExecutor on SQLite, DuckDB; celery: CeleryExecutor, Postgres, Redis ($DATAPRODUCTS_POSTGRES_URL, $DATAPRODUCTS_REDIS_URL)",
    )
    demo.add_argument(
        "--business-date", help="the date to build (default: the day on which most landing tables have their newest rows)"
    )
    demo.add_argument("--keep-running", action="store_true", help="leave Airflow running (UI at localhost:8080)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--timeout", type=int, default=900, help="seconds to wait for the whole mesh")
    demo.set_defaults(handler=cmd_demo)


def cmd_rerun(project: Project, args) -> int:
    from dataproducts.core.business_date import BusinessDateError
    from dataproducts.ops import rerun
    from dataproducts.ops.airflow_api import AirflowApiError, report
    from dataproducts.ops.rerun_ledger import RerunLedger, RerunRequest

    mesh = mesh_knowing(project, args.product_id, valid=True)
    if mesh is None:
        return 2
    try:
        dates = _rerun_dates(args)
    except (BusinessDateError, ValueError) as exc:
        print(f"rerun: {exc}", file=sys.stderr)
        return 2
    request = RerunRequest(args.product_id, tuple(dates), args.full_refresh, not args.no_downstream)
    ledger = RerunLedger.open(project.state_dir, request, restart=args.restart)
    print(_plan_line(request, rerun.plan(mesh, args.product_id, request.downstream)))
    if args.dry_run:
        return 0
    try:
        records = rerun.rerun_dates(airflow_api(args), mesh, ledger, args.timeout)
    except rerun.RerunFailed as exc:
        resume = f" Run the same command again to resume after {ledger.done[-1]}." if ledger.done else ""
        print(f"RERUN STOPPED: {exc}.{resume}", file=sys.stderr)
        return 1
    except AirflowApiError as exc:
        return airflow_failed("rerun", exc, 1)
    print(report(records))
    return 0


def _plan_line(request, products: list[str]) -> str:
    dates = request.dates
    shown = dates[0] if len(dates) == 1 else f"{dates[0]} .. {dates[-1]} ({len(dates)} dates, one after the other)"
    refresh = f"; {request.product_id} recreated with {dates[0]} (full refresh)" if request.full_refresh else ""
    return f"rebuilding {shown} of, in this order: {', '.join(products)}{refresh}"


def _rerun_dates(args) -> list[str]:
    from dataproducts.core.business_date import parse_business_date
    from dataproducts.ops.rerun import dates_between

    if args.business_date and not (args.start or args.end):
        return [parse_business_date(args.business_date, "--business-date").isoformat()]
    if args.start and args.end and not args.business_date:
        return dates_between(parse_business_date(args.start, "--start"), parse_business_date(args.end, "--end"))
    raise ValueError("give --business-date D, or --start D1 and --end D2 (a range), not both")


def cmd_demo(project: Project, args) -> int:
    from dataproducts.ops import demo

    business_date = args.business_date or demo.default_business_date(project)
    return demo.run_demo(project, business_date, args.port, args.keep_running, args.timeout, args.stack)
