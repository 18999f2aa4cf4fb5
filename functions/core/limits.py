"""The integer limits of the database's column types, defined once."""

INT4_MAX = 2**31 - 1  # integer
INT8_MAX = 2**63 - 1  # bigint
