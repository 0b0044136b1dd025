-- Performance of every campaign running on the business date.
with campaigns as (
    select *
    from {{ source('landing', 'raw_ad_campaigns') }}
    where cast('{{ var("business_date") }}' as date) between start_date and end_date
),

delivery as (
    select
        campaign_id,
        count(*) as promoted_listings,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(spend_eur) as spend_eur,
        sum(listing_views) as listing_views,
        sum(listing_contacts) as listing_contacts
    from {{ ref('int_ad_delivery') }}
    group by campaign_id
)

select
    cast('{{ var("business_date") }}' as date) as business_date,
    c.campaign_id,
    c.dealer_id,
    c.ad_product,
    c.daily_budget_eur,
    coalesce(d.promoted_listings, 0) as promoted_listings,
    cast(coalesce(d.impressions, 0) as bigint) as impressions,
    cast(coalesce(d.clicks, 0) as bigint) as clicks,
    cast(case when d.impressions > 0 then cast(d.clicks as decimal(18, 6)) / d.impressions end as decimal(9, 4)) as ctr,
    cast(coalesce(d.spend_eur, 0) as decimal(12, 2)) as spend_eur,
    cast(case when d.clicks > 0 then d.spend_eur / d.clicks end as decimal(12, 2)) as cpc_eur,
    cast(coalesce(d.listing_views, 0) as bigint) as listing_views,
    cast(coalesce(d.listing_contacts, 0) as bigint) as listing_contacts,
    cast(case when d.listing_contacts > 0 then d.spend_eur / d.listing_contacts end as decimal(12, 2)) as cost_per_contact_eur
from campaigns as c
left join delivery as d
    on d.campaign_id = c.campaign_id
