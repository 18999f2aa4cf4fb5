"""The movie catalogue as readers see it: the listing (filters, sorts, pages, cursors, counts),
one movie, and the language names both the listing and the CSV parser understand."""
