//! zoo registry client: HTTP, resolver, store, install.
