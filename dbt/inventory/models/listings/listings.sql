-- Daily snapshot of the listings that were online at the end of the business date.
with params as (
    select cast('{{ var("business_date") }}' as date) as business_date
),

raw as (
    select * from {{ source('landing', 'raw_listings') }}
)

select
    p.business_date,
    r.listing_id,
    r.dealer_id,
    r.make,
    r.model,
    r.first_registration_year as year,
    r.mileage_km,
    r.fuel_type,
    r.price_eur,
    r.city,
    cast(r.created_at as date) as listed_date,
    cast({{ dbt.datediff('cast(r.created_at as date)', 'p.business_date', 'day') }} as integer) as days_online
from raw as r
cross join params as p
where cast(r.created_at as date) <= p.business_date
  and (r.deleted_at is null or cast(r.deleted_at as date) > p.business_date)
