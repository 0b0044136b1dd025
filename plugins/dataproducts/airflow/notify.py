"""Owners are told when their product fails, through Airflow's notifier mechanism.

`ProductFailureNotifier` is every product task's `on_failure_callback` (an Airflow `BaseNotifier`,
so it runs where Airflow runs task callbacks: in the task's own process, with its context). It
always writes one log line naming the owner; it e-mails the owner's contact through Airflow's
SMTP provider when `notify_smtp_conn_id` names an SMTP connection, and POSTs the notice as JSON
when `notify_webhook_conn_id` names an HTTP connection. A channel that fails is logged and never
changes the task's outcome. A port that turns stale tells its owner the same way, once per stale
period (`StalePortNotifier`, from the catalogue DAG's freshness check).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

from dataproducts.core import settings
from dataproducts.core.business_date import CONF_KEY
from dataproducts.core.notification import FailureNotice, StaleNotice, first_error_line

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10


class ProductFailureNotifier(BaseNotifier):
    def __init__(self, product_id: str, owner: str, contact: str):
        super().__init__()
        self.product_id, self.owner, self.contact = product_id, owner, contact

    def notify(self, context: Any) -> None:
        tell_owner(failure_notice(self.product_id, self.owner, self.contact, context), context)


class StalePortNotifier(BaseNotifier):
    """Called by the catalogue DAG's freshness check once per stale period of a port."""

    def __init__(self, notice: StaleNotice):
        super().__init__()
        self.notice = notice

    def notify(self, context: Any) -> None:
        tell_owner(self.notice, context)


def tell_owner(notice: FailureNotice | StaleNotice, context: Any) -> None:
    """The log line, then every configured channel; a channel that fails is logged, never raised."""
    log.error("dataproducts: notifying %s <%s>: %s", notice.owner, notice.contact, " | ".join(notice.lines()))
    for name, send in (("e-mail", _send_email), ("webhook", _post_webhook)):
        try:
            send(notice, context)
        except Exception:  # one channel down must not silence the others
            log.exception("dataproducts: the %s notice about %s could not be sent", name, notice.product_id)


def failure_notice(product_id: str, owner: str, contact: str, context: Any) -> FailureNotice:
    ti = context["ti"]
    return FailureNotice(
        product_id=product_id,
        owner=owner,
        contact=contact,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        business_date=_business_date(context),
        error=first_error_line(context.get("exception")),
        log_url=getattr(ti, "log_url", None),
    )


def _business_date(context: Any) -> str | None:
    """The date the build chose (its failure record), else the one the run was asked for."""
    from dataproducts.core.run_outcome import BUILD_TASK, OUTCOME_KEY, BuildOutcome  # at failure, not at parse

    try:
        outcome = BuildOutcome.from_xcom(context["ti"].xcom_pull(task_ids=BUILD_TASK, key=OUTCOME_KEY))
    except Exception:  # no XCom access (a callback outside a task run), or not an outcome: fall back to the conf
        outcome = None
    if outcome is not None and outcome.business_date:
        return outcome.business_date_iso
    run = context.get("dag_run")
    conf = getattr(run, "conf", None) or {}
    params = context.get("params") or {}
    return conf.get(CONF_KEY) or params.get(CONF_KEY) or None


def _send_email(notice: FailureNotice | StaleNotice, context: Any) -> None:
    conn_id = settings.get("notify_smtp_conn_id")
    if not conn_id:
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=notice.contact, from_email=None, subject=notice.subject, html_content=notice.html(), smtp_conn_id=conn_id
    ).notify(context)  # notify(), not __call__: the notice is not a Jinja template
    log.info("dataproducts: e-mailed %s through the connection '%s'", notice.contact, conn_id)


def _post_webhook(notice: FailureNotice | StaleNotice, context: Any) -> None:
    conn_id = settings.get("notify_webhook_conn_id")
    if not conn_id:
        return
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    url = webhook_url(conn)
    headers = {"Content-Type": "application/json", **(conn.extra_dejson.get("headers") or {})}
    body = json.dumps(notice.as_json()).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        log.info("dataproducts: webhook '%s' answered %s", conn_id, response.status)


def webhook_url(conn: Any) -> str:
    """The connection's host when it is a whole URL, else <schema>://<host>[:<port>]/<extra endpoint>."""
    host = conn.host or ""
    if host.startswith(("http://", "https://")):
        return host
    port = f":{conn.port}" if conn.port else ""
    endpoint = str(conn.extra_dejson.get("endpoint", "")).lstrip("/")
    return f"{conn.schema or 'http'}://{host}{port}/{endpoint}"
