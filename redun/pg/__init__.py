"""PostgreSQL repositories: the object store, refs and query index of a repository, in one
PostgreSQL database (`[backend] db_uri = postgresql://...`), through psycopg 3.

    connection.py  connecting (psycopg imported lazily), retries, the `redun_repo` schema
    schema.py      every table (DDL) and the SQL that writes index rows
    store.py       PgStore (the ObjectStore contract) and PgWriter (a run's batched writer)
    refs.py        PgRefs (the RefStore contract): compare-and-swap in a transaction
    queries.py     PgIndex: the query index's reads, in PostgreSQL's SQL

Everything lives in the PostgreSQL schema `redun_repo`, so a database that also holds
upstream redun's tables (public.execution, public.job, ...) keeps them apart. Index rows
are written in the same transaction as their objects: the index is never behind, and a
laptop answers `redun log` with a few queries instead of downloading the repository.
Layer: beside redun/index and redun/refs (imports objects, refs' contract, index rows).
"""

from .connection import PgDatabase, connect

__all__ = ["PgDatabase", "connect"]
