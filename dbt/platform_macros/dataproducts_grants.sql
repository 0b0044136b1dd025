{#- Platform macro: SELECT on each output table for exactly the roles its port's access policy
    allows (dbt's own apply_grants: grants what is missing, revokes what is not listed; the owner
    keeps its rights). The build task runs it as the domain's role after `dbt build`:
      dbt run-operation dataproducts_grant_select --args '{grants: [{schema: s, table: t, roles: [r]}]}' -#}
{% macro dataproducts_grant_select(grants) %}
  {%- for grant in grants -%}
    {%- set relation = adapter.get_relation(database=target.database, schema=grant["schema"], identifier=grant["table"]) -%}
    {%- if relation is none -%}
      {{ exceptions.raise_compiler_error("dataproducts_grant_select: no table " ~ grant["schema"] ~ "." ~ grant["table"] ~ " in " ~ target.database) }}
    {%- endif -%}
    {%- do apply_grants(relation, {"select": grant["roles"]}, should_revoke=True) -%}
    {{ log("SELECT on " ~ relation ~ " for " ~ (grant["roles"] | join(", ")), info=True) }}
  {%- endfor -%}
  {%- do adapter.commit() -%}
{% endmacro %}
