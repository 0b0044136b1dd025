-- Rates every active listing against its market's median asking price.
with listings as (
    select *
    from {{ source('inventory', 'listings') }}
    where business_date = cast('{{ var("business_date") }}' as date)
),

markets as (
    select *
    from {{ source('pricing', 'market_prices') }}
    where business_date = cast('{{ var("business_date") }}' as date)
),

compared as (
    select
        l.listing_id,
        l.dealer_id,
        l.make,
        l.model,
        l.year,
        l.mileage_km,
        l.price_eur,
        m.market_key,
        m.listing_count as comparable_listings,
        m.median_price_eur as market_median_price_eur,
        case
            when m.median_price_eur > 0
                then cast(100 * (l.price_eur - m.median_price_eur) / m.median_price_eur as decimal(9, 2))
        end as price_delta_pct
    from listings as l
    left join markets as m
        on m.make = l.make
       and m.model = l.model
       and l.year between m.year_from and m.year_to
)

select
    cast('{{ var("business_date") }}' as date) as business_date,
    listing_id,
    dealer_id,
    make,
    model,
    year,
    mileage_km,
    price_eur,
    market_key,
    comparable_listings,
    market_median_price_eur,
    price_delta_pct,
    case
        when price_delta_pct is null then 'no_rating'
        when price_delta_pct <= -15 then 'great_deal'
        when price_delta_pct <= -5 then 'good_deal'
        when price_delta_pct <= 10 then 'fair_deal'
        else 'high_price'
    end as rating
from compared
