-- Make/model reference data: rebuilt in full on every run (a table, not daily history).
{{ config(materialized='table') }}

select
    cast('{{ var("business_date") }}' as date) as business_date,
    lower(replace(make || '_' || model, ' ', '_')) as vehicle_key,
    model_code,
    make,
    model,
    segment,
    body_type,
    launch_year,
    updated_at
from {{ source('landing', 'raw_vehicle_models') }}
