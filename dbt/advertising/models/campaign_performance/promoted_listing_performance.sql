-- Ad delivery per promoted listing on the business date (all its campaigns together).
select
    cast('{{ var("business_date") }}' as date) as business_date,
    listing_id,
    count(*) as campaign_count,
    cast(sum(impressions) as bigint) as impressions,
    cast(sum(clicks) as bigint) as clicks,
    cast(case when sum(impressions) > 0 then cast(sum(clicks) as decimal(18, 6)) / sum(impressions) end as decimal(9, 4)) as ctr,
    cast(sum(spend_eur) as decimal(12, 2)) as spend_eur,
    max(listing_views) as listing_views,
    max(listing_contacts) as listing_contacts
from {{ ref('int_ad_delivery') }}
group by listing_id
