//! paperboy_search
