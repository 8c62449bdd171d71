"""The pytest plugin ``anonvma`` (``pytest -p anonvma``)."""
