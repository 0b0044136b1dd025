-- Ad delivery on the business date per campaign and listing, with the listing's engagement.
{{ config(materialized='ephemeral') }}

with delivery as (
    select
        campaign_id,
        listing_id,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(cost_eur) as spend_eur
    from {{ source('landing', 'raw_ad_impressions') }}
    where report_date = cast('{{ var("business_date") }}' as date)
    group by campaign_id, listing_id
),

engagement as (
    select listing_id, views, contacts
    from {{ source('user_behaviour', 'listing_engagement') }}
    where business_date = cast('{{ var("business_date") }}' as date)
)

select
    d.campaign_id,
    d.listing_id,
    d.impressions,
    d.clicks,
    d.spend_eur,
    coalesce(e.views, 0) as listing_views,
    coalesce(e.contacts, 0) as listing_contacts
from delivery as d
left join engagement as e
    on e.listing_id = d.listing_id
