-- Views, favourites and contacts per listing on the business date (listings with any activity).
with events as (
    select *
    from {{ source('landing', 'raw_listing_events') }}
    where cast(event_ts as date) = cast('{{ var("business_date") }}' as date)
),

per_listing as (
    select
        listing_id,
        sum(case when event_type = 'view' then 1 else 0 end) as views,
        count(distinct case when event_type = 'view' then visitor_id end) as unique_visitors,
        sum(case when event_type = 'favourite' then 1 else 0 end) as favourites,
        sum(case when event_type = 'contact' then 1 else 0 end) as contacts,
        sum(case when device = 'app' then 1 else 0 end) as app_events,
        count(*) as events
    from events
    group by listing_id
)

select
    cast('{{ var("business_date") }}' as date) as business_date,
    listing_id,
    cast(views as bigint) as views,
    unique_visitors,
    cast(favourites as bigint) as favourites,
    cast(contacts as bigint) as contacts,
    cast(case when views > 0 then cast(contacts as decimal(18, 6)) / views end as decimal(9, 4)) as contact_rate,
    cast(cast(app_events as decimal(18, 6)) / events as decimal(9, 4)) as app_share
from per_listing
