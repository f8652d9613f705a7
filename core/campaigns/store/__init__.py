"""The campaigns' SQL: ``schema`` (campaigns, recipients), ``campaigns`` (the campaigns), ``recipients``."""
