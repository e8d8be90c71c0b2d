//! paperboy_app
