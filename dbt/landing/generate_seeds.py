"""Generate the landing seeds: a small, deterministic car marketplace (stdlib only).

Writes dbt/landing/seeds/*.csv for business dates 2026-11-01 .. 2026-11-07. The data stands in
for exports of the operational systems (listing service, vehicle master data, web tracking,
ad server). Rerunning this script rewrites byte-identical files.

    python dbt/landing/generate_seeds.py
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20261101
FIRST_DAY = date(2026, 11, 1)
DAYS = 7
SEEDS_DIR = Path(__file__).resolve().parent / "seeds"

# make, model, segment, body_type, launch_year, new price (EUR), popularity weight
VEHICLE_MODELS = [
    ("Volkswagen", "Golf", "compact", "hatchback", 2008, 32000, 10),
    ("Volkswagen", "Polo", "small", "hatchback", 2009, 22000, 7),
    ("Volkswagen", "Passat", "midsize", "estate", 2010, 42000, 6),
    ("Volkswagen", "Tiguan", "suv", "suv", 2011, 41000, 7),
    ("BMW", "3 Series", "midsize", "sedan", 2012, 48000, 7),
    ("BMW", "X3", "suv", "suv", 2011, 58000, 4),
    ("BMW", "1 Series", "compact", "hatchback", 2011, 36000, 4),
    ("Mercedes-Benz", "C-Class", "midsize", "sedan", 2014, 50000, 7),
    ("Mercedes-Benz", "A-Class", "compact", "hatchback", 2012, 37000, 5),
    ("Mercedes-Benz", "E-Class", "premium", "sedan", 2016, 62000, 4),
    ("Audi", "A4", "midsize", "estate", 2015, 47000, 6),
    ("Audi", "A3", "compact", "hatchback", 2012, 35000, 5),
    ("Audi", "Q5", "suv", "suv", 2016, 60000, 4),
    ("Opel", "Corsa", "small", "hatchback", 2014, 20000, 6),
    ("Opel", "Astra", "compact", "hatchback", 2015, 27000, 5),
    ("Ford", "Fiesta", "small", "hatchback", 2008, 19000, 5),
    ("Ford", "Focus", "compact", "estate", 2011, 28000, 5),
    ("Skoda", "Octavia", "compact", "estate", 2013, 31000, 7),
    ("Skoda", "Fabia", "small", "hatchback", 2014, 19000, 3),
    ("Toyota", "Yaris", "small", "hatchback", 2011, 21000, 3),
    ("Toyota", "RAV4", "suv", "suv", 2013, 40000, 3),
    ("Tesla", "Model 3", "premium", "sedan", 2019, 45000, 3),
    ("Renault", "Clio", "small", "hatchback", 2012, 19000, 4),
    ("Hyundai", "Tucson", "suv", "suv", 2015, 36000, 3),
    ("Fiat", "500", "small", "hatchback", 2007, 17000, 3),
    ("Porsche", "911", "premium", "coupe", 2011, 120000, 1),
    ("Volkswagen", "ID.3", "compact", "hatchback", 2020, 38000, 0),  # catalogued, never listed
]
CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Stuttgart", "Leipzig", "Dresden", "Hanover", "Nuremberg"]
N_DEALERS = 60
ACTIVE_AT_START = 420
NEW_PER_DAY = (20, 34)  # listings created per day, inclusive range
DAILY_DEACTIVATION = 0.055  # chance an active listing is sold or removed on a given day
CAMPAIGNS = 14
PLACEMENTS = [("search_top", 0.018), ("homepage", 0.006), ("similar_ads", 0.012)]


def days() -> list[date]:
    return [FIRST_DAY + timedelta(days=i) for i in range(DAYS)]


def at(day: date, rng: random.Random, start_hour: int = 6, end_hour: int = 23) -> datetime:
    seconds = rng.randint(start_hour * 3600, end_hour * 3600 - 1)
    return datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)


def fmt_ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def make_listing(rng: random.Random, number: int, created_at: datetime) -> dict:
    weights = [m[6] for m in VEHICLE_MODELS]
    make, model, _segment, _body, launch, new_price, _w = rng.choices(VEHICLE_MODELS, weights=weights)[0]
    year = rng.randint(max(launch, 2012), 2025)
    age = 2026 - year
    mileage = max(500, int(rng.gauss(14500 * age + 4000, 6000 + 3000 * age)))
    mileage = round(mileage, -2)
    fuel = "electric" if make == "Tesla" or model == "ID.3" else rng.choices(
        ["petrol", "diesel", "hybrid", "electric"], weights=[55, 30, 11, 4]
    )[0]
    fair = new_price * (0.86 ** age) * (1 - min(mileage, 250000) / 900000)
    price = fair * math.exp(rng.gauss(0, 0.13))
    price = max(1490, int(price / 100) * 100 - 10)  # dealer pricing: 14,990 rather than 15,000
    return {
        "listing_id": f"L{number:05d}",
        "dealer_id": f"D{rng.randint(1, N_DEALERS):03d}",
        "make": make,
        "model": model,
        "first_registration_year": year,
        "mileage_km": mileage,
        "fuel_type": fuel,
        "price_eur": f"{price}.00",
        "city": rng.choice(CITIES),
        "created_at": created_at,
        "deleted_at": None,
    }


def generate(rng: random.Random):
    listings: list[dict] = []
    for i in range(ACTIVE_AT_START):
        created = at(FIRST_DAY - timedelta(days=rng.randint(1, 75)), rng)
        listings.append(make_listing(rng, i + 1, created))
    active_by_day: dict[date, list[dict]] = {}
    for day in days():
        for _ in range(rng.randint(*NEW_PER_DAY)):
            listings.append(make_listing(rng, len(listings) + 1, at(day, rng, 7, 20)))
        # a listing counts as active on a day when it exists at the start of the next day
        for listing in listings:
            if listing["deleted_at"] is None and listing["created_at"].date() <= day and rng.random() < DAILY_DEACTIVATION:
                earliest = max(listing["created_at"] + timedelta(minutes=30), datetime(day.year, day.month, day.day))
                deleted = at(day, rng)
                listing["deleted_at"] = max(deleted, earliest)
        active_by_day[day] = [
            l for l in listings
            if l["created_at"].date() <= day and (l["deleted_at"] is None or l["deleted_at"].date() > day)
        ]

    # ad campaigns: a dealer promotes a few of its listings
    campaigns = []
    dealers_with_stock = sorted({l["dealer_id"] for l in active_by_day[FIRST_DAY]})
    for i in range(CAMPAIGNS):
        dealer = rng.choice(dealers_with_stock)
        start = FIRST_DAY + timedelta(days=rng.choice([-10, -3, 0, 0, 1, 2, 3]))
        end = start + timedelta(days=rng.choice([6, 13, 29]))
        product = rng.choice(["top_listing", "top_listing", "homepage_showcase"])
        campaigns.append({
            "campaign_id": f"C{i + 1:03d}",
            "dealer_id": dealer,
            "campaign_name": f"{dealer} {product.replace('_', ' ')} {start:%b %d}",
            "ad_product": product,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "daily_budget_eur": f"{rng.choice([15, 20, 25, 40, 60])}.00",
        })

    impressions = []
    promoted_on: dict[tuple[date, str], float] = {}
    for c in campaigns:
        chosen: list[str] = []
        for day in days():
            if not (c["start_date"] <= day.isoformat() <= c["end_date"]):
                continue
            dealer_stock = [l["listing_id"] for l in active_by_day[day] if l["dealer_id"] == c["dealer_id"]]
            chosen = [lid for lid in chosen if lid in dealer_stock]
            for lid in dealer_stock:
                if len(chosen) >= 3:
                    break
                if lid not in chosen:
                    chosen.append(lid)
            for lid in chosen:
                for placement, ctr in PLACEMENTS:
                    if c["ad_product"] == "top_listing" and placement == "homepage":
                        continue
                    shown = int(rng.gauss(900 if placement == "search_top" else 450, 150))
                    clicks = poisson(rng, max(shown, 0) * ctr)
                    cpm = 4.0 if placement == "homepage" else 2.5
                    impressions.append({
                        "report_date": day.isoformat(),
                        "campaign_id": c["campaign_id"],
                        "listing_id": lid,
                        "placement": placement,
                        "impressions": max(shown, 0),
                        "clicks": clicks,
                        "cost_eur": f"{max(shown, 0) * cpm / 1000:.2f}",
                    })
                    promoted_on[(day, lid)] = promoted_on.get((day, lid), 0) + clicks

    # web tracking events: views, favourites, contacts on active listings
    events = []
    event_id = 0
    for day in days():
        for listing in active_by_day[day]:
            model_price = next(m[5] for m in VEHICLE_MODELS if m[1] == listing["model"])
            appeal = min(2.5, model_price / 30000) * rng.uniform(0.4, 1.6)
            lam = 2.2 * appeal + 0.6 * promoted_on.get((day, listing["listing_id"]), 0)
            day_start = max(datetime(day.year, day.month, day.day), listing["created_at"])
            day_end = listing["deleted_at"] if listing["deleted_at"] and listing["deleted_at"].date() == day else None
            for _ in range(poisson(rng, lam)):
                ts = at(day, rng, 0, 24)
                if ts < day_start or (day_end and ts >= day_end):
                    continue
                visitor = f"V{rng.randint(1, 4000):05d}"
                device = rng.choice(["web", "app", "app"])
                kinds = ["view"]
                if rng.random() < 0.09:
                    kinds.append("favourite")
                if rng.random() < 0.05:
                    kinds.append("contact")
                for k, kind in enumerate(kinds):
                    event_id += 1
                    events.append({
                        "event_id": event_id,
                        "listing_id": listing["listing_id"],
                        "event_type": kind,
                        "event_ts": fmt_ts(ts + timedelta(seconds=40 * k)),
                        "visitor_id": visitor,
                        "device": device,
                    })
    events.sort(key=lambda e: (e["event_ts"], e["event_id"]))
    for number, event in enumerate(events, start=1):
        event["event_id"] = number

    listings_rows = [
        {**l, "created_at": fmt_ts(l["created_at"]), "deleted_at": fmt_ts(l["deleted_at"])} for l in listings
    ]
    models_rows = [
        {
            "model_code": f"{make[:3].upper()}-{model.upper().replace(' ', '').replace('.', '').replace('-', '')}",
            "make": make,
            "model": model,
            "segment": segment,
            "body_type": body,
            "launch_year": launch,
            "updated_at": "2026-10-15 09:00:00",
        }
        for make, model, segment, body, launch, _price, _w in VEHICLE_MODELS
    ]
    return {
        "raw_listings": listings_rows,
        "raw_vehicle_models": models_rows,
        "raw_listing_events": events,
        "raw_ad_campaigns": campaigns,
        "raw_ad_impressions": impressions,
    }


def main() -> None:
    SEEDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, rows in generate(random.Random(SEED)).items():
        path = SEEDS_DIR / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"{path.relative_to(SEEDS_DIR.parent.parent.parent)}: {len(rows)} rows, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
