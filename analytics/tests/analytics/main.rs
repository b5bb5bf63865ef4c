//! Integration tests of `ds-analytics`: case tables and property tests.

mod bars;
mod bs;
mod calendar;
mod chain;
mod iv;
mod market;
mod oi;
mod surface;
mod universe;
