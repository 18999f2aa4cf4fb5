"""The bulk publish's index copies, without a database: each index of `movies` built on
`movies_next` under a temporary name, as PostgreSQL defined it."""

from __future__ import annotations

from functions.core.ingest.rebuild import _index_on_next


def test_an_index_is_copied_with_its_method_keys_and_predicate_onto_the_new_table():
    definition = (
        "CREATE INDEX movies_order_revenue ON public.movies USING btree (revenue, id)"
        " WHERE (revenue IS NOT NULL)"
    )
    assert _index_on_next("movies_order_revenue", definition).as_string() == (
        'CREATE INDEX "movies_order_revenue_next" ON "movies_next" USING btree (revenue, id)'
        " WHERE (revenue IS NOT NULL)"
    )


def test_a_unique_index_stays_unique():
    definition = "CREATE UNIQUE INDEX movies_x ON public.movies USING btree (title)"
    assert _index_on_next("movies_x", definition).as_string().startswith("CREATE UNIQUE INDEX")
