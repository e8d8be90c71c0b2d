//! paperboy_store
