"""The bundled designs of the guard-region / anon_vma patch: small policies over one engine."""
