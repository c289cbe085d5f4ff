"""Provider contracts: one module per provider behind `base.ProviderClient`."""
