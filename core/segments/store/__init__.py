"""The segments' SQL: memberships, metrics, the built-in segments' query, rules compiled to SQL, the refreshes.

Segments are computed set-based in the database (that is what keeps them fast
at millions of contacts), so most of the area lives here; ``core.segments``
keeps the rule language, the settings and the pipeline reaction.
"""
