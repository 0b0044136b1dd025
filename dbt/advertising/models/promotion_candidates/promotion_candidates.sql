-- Listings worth promoting: good or great deals that are not promoted yet, ranked by how good
-- the deal is and how much interest buyers already show. Top 40 per business date.
with ratings as (
    select *
    from {{ source('pricing', 'price_ratings') }}
    where business_date = cast('{{ var("business_date") }}' as date)
      and rating in ('great_deal', 'good_deal')
),

engagement as (
    select listing_id, views, favourites, contacts
    from {{ source('user_behaviour', 'listing_engagement') }}
    where business_date = cast('{{ var("business_date") }}' as date)
),

promoted as (
    select listing_id
    from {{ source('advertising', 'promoted_listing_performance') }}
    where business_date = cast('{{ var("business_date") }}' as date)
),

scored as (
    select
        r.listing_id,
        r.dealer_id,
        r.make,
        r.model,
        r.price_eur,
        r.rating,
        r.price_delta_pct,
        coalesce(e.views, 0) as views,
        coalesce(e.favourites, 0) as favourites,
        coalesce(e.contacts, 0) as contacts,
        cast(
            -r.price_delta_pct
            + 0.5 * coalesce(e.views, 0)
            + 2 * coalesce(e.favourites, 0)
            + 4 * coalesce(e.contacts, 0)
            as decimal(9, 2)
        ) as promotion_score
    from ratings as r
    left join engagement as e
        on e.listing_id = r.listing_id
    where not exists (select 1 from promoted as p where p.listing_id = r.listing_id)
),

ranked as (
    select
        *,
        row_number() over (order by promotion_score desc, listing_id) as recommendation_rank
    from scored
)

select
    cast('{{ var("business_date") }}' as date) as business_date,
    recommendation_rank,
    listing_id,
    dealer_id,
    make,
    model,
    price_eur,
    rating,
    price_delta_pct,
    views,
    favourites,
    contacts,
    promotion_score,
    case when rating = 'great_deal' then 'homepage_showcase' else 'top_listing' end as suggested_ad_product
from ranked
where recommendation_rank <= 40
