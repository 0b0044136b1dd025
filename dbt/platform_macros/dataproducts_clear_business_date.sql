{#- Platform convention for every product model (the pre-hook in each domain's dbt_project.yml):
    delete+insert only deletes the dates it inserts, so clear the run's business date first; a
    rerun that now yields no rows still rewrites exactly that date (idempotent reruns). -#}
{% macro dataproducts_clear_business_date() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where business_date = cast('{{ var("business_date") }}' as date)
    {%- endif -%}
{%- endmacro %}
