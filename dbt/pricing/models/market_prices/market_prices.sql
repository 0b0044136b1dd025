-- Price distribution of active listings per make, model and 3-year registration band.
-- A market needs at least 3 listings to be published.
with listings as (
    select *
    from {{ source('inventory', 'listings') }}
    where business_date = cast('{{ var("business_date") }}' as date)
),

catalog as (
    select vehicle_key, make, model, segment
    from {{ source('inventory', 'vehicle_catalog') }}
),

banded as (
    select
        l.make,
        l.model,
        c.vehicle_key,
        c.segment,
        l.year - (l.year % 3) as year_from,
        l.price_eur,
        l.mileage_km
    from listings as l
    inner join catalog as c
        on c.make = l.make
       and c.model = l.model
),

markets as (
    select
        vehicle_key,
        make,
        model,
        segment,
        year_from,
        count(*) as listing_count,
        percentile_cont(0.25) within group (order by price_eur) as p25_price,
        percentile_cont(0.5) within group (order by price_eur) as median_price,
        percentile_cont(0.75) within group (order by price_eur) as p75_price,
        round(avg(cast(mileage_km as decimal(18, 2))), 0) as avg_mileage
    from banded
    group by vehicle_key, make, model, segment, year_from
    having count(*) >= 3
)

select
    cast('{{ var("business_date") }}' as date) as business_date,
    vehicle_key || '_' || cast(year_from as varchar) as market_key,
    vehicle_key,
    make,
    model,
    segment,
    cast(year_from as varchar) || '-' || cast(year_from + 2 as varchar) as year_band,
    year_from,
    year_from + 2 as year_to,
    listing_count,
    cast(p25_price as decimal(12, 2)) as p25_price_eur,
    cast(median_price as decimal(12, 2)) as median_price_eur,
    cast(p75_price as decimal(12, 2)) as p75_price_eur,
    cast(avg_mileage as integer) as avg_mileage_km
from markets
