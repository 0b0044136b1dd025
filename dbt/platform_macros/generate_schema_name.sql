{#- Platform convention for every domain project: tables land in the schema named by +schema
    (the domain) as-is, not "<target schema>_<domain>". Listed in each dbt_project.yml macro-paths. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
