{#- Platform convention for every domain project: tables land in the schema named by +schema as-is
    (not "<target schema>_<schema>"), and without one in the schema named like the dbt project,
    which is the domain. Listed in each dbt_project.yml macro-paths. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- elif node.package_name -%}
        {{ node.package_name }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
