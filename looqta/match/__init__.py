"""Offers to products: the same product on every site (identifiers first, then fuzzy titles)."""
