"""When a product runs, as Airflow asset partitions (AIP-76): the business date is the partition key.

* A product that reads no other product runs on its cron with `CronPartitionTimetable`: the tick
  after a day builds that day (run_offset -1), its partition key is the day (`YYYY-MM-DD`, in the
  product's timezone), and its publications carry that key.
* A product that reads products runs from its inputs' partitioned asset events with
  `PartitionedAssetTimetable` over AssetAll (trigger: all) or AssetAny (trigger: any). The
  identity mapper keeps the producer's key, so Airflow starts one run per business date, once the
  condition holds for that date, and never folds several dates into one run.
* A product with both (cron-or-assets) gets `PartitionedAssetOrCronTimetable`, the platform's own
  (registered by the plugin): the same partitioned asset runs, plus a cron tick that asks for the
  day before it.
What Airflow cannot express (a manual or cron run of a consumer, `trigger: any` per date) is
closed by the build task's per-date rule (dataproducts.core.readiness).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from airflow.partition_mappers.identity import IdentityMapper
from airflow.timetables.simple import PartitionedAssetTimetable as CorePartitionedAssetTimetable
from airflow.timetables.trigger import CronPartitionTimetable as CoreCronPartitionTimetable
from airflow.utils.types import DagRunType

from dataproducts.core.business_date import PARTITION_KEY_FORMAT


def cron_partitions(cron: str, timezone: str):
    """The previous day's date as the partition key of each tick. run_immediately: a new or
    unpaused product waits for its next tick (a zero delta never runs the previous one)."""
    from airflow.sdk import CronPartitionTimetable

    return CronPartitionTimetable(
        cron, timezone=timezone, run_offset=-1, key_format=PARTITION_KEY_FORMAT, run_immediately=dt.timedelta(0)
    )


def schedule_for(cron: Optional[str], timezone: str, trigger: str, inputs: list) -> Any:
    """A spec's schedule (its cron, time zone and trigger) over its input ports' assets."""
    from airflow.sdk import AssetAll, AssetAny, IdentityMapper, PartitionedAssetTimetable

    if not inputs:
        return cron_partitions(cron, timezone) if cron else None
    assets = AssetAny(*inputs) if trigger == "any" else AssetAll(*inputs)
    if cron:
        return PartitionedAssetOrCronTimetable(cron=_core_cron(cron, timezone), assets=assets)
    return PartitionedAssetTimetable(assets=assets, default_partition_mapper=IdentityMapper())


def _core_cron(cron: str, timezone: str) -> CoreCronPartitionTimetable:
    return CoreCronPartitionTimetable(
        cron, timezone=timezone, run_offset=-1, key_format=PARTITION_KEY_FORMAT, run_immediately=dt.timedelta(0)
    )


class PartitionedAssetOrCronTimetable(CorePartitionedAssetTimetable):
    """One run per business date from the inputs' partitioned events (identity mapper), and a
    cron tick that asks for the day before it, like Airflow's AssetOrTimeSchedule but partitioned.
    Registered by the plugin (custom timetables must be, to deserialize)."""

    def __init__(self, *, cron: CoreCronPartitionTimetable, assets: Any) -> None:
        super().__init__(assets=assets, default_partition_mapper=IdentityMapper())
        self.cron = cron
        self.description = f"Partitioned assets or {cron.description}"
        self.periodic = cron.periodic
        self.can_be_scheduled = cron.can_be_scheduled
        self.active_runs_limit = cron.active_runs_limit

    @property
    def summary(self) -> str:
        return f"Partitioned Asset or {self.cron.summary}"

    def serialize(self) -> dict[str, Any]:
        from airflow.serialization.encoders import encode_asset_like

        return {"asset_condition": encode_asset_like(self.asset_condition), "cron": self.cron.serialize()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> PartitionedAssetOrCronTimetable:
        from airflow.serialization.decoders import decode_asset_like

        cron = CoreCronPartitionTimetable.deserialize(data["cron"])
        return cls(cron=cron, assets=decode_asset_like(data["asset_condition"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartitionedAssetOrCronTimetable) and other.serialize() == self.serialize()

    def __hash__(self) -> int:
        return hash(self.cron.summary)

    def infer_manual_data_interval(self, *, run_after):
        return self.cron.infer_manual_data_interval(run_after=run_after)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        return self.cron.next_dagrun_info(last_automated_data_interval=last_automated_data_interval, restriction=restriction)

    def next_dagrun_info_v2(self, *, last_dagrun_info, restriction):
        return self.cron.next_dagrun_info_v2(last_dagrun_info=last_dagrun_info, restriction=restriction)

    def iter_partition_dagrun_infos(self, *, earliest, latest):
        return self.cron.iter_partition_dagrun_infos(earliest=earliest, latest=latest)

    def _decode_partition_date(self, partition_key: str) -> Optional[dt.datetime]:
        return self.cron._decode_partition_date(partition_key)

    def generate_run_id(self, *, run_type: DagRunType, **kwargs: Any) -> str:
        if run_type != DagRunType.ASSET_TRIGGERED:
            return self.cron.generate_run_id(run_type=run_type, **kwargs)
        return super().generate_run_id(run_type=run_type, **kwargs)
