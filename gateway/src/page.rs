//! Cursor pagination over a time-ordered projection: `[from, to)`, newest first
//! unless `order=asc`, ties on time broken by `_id`, so pages never skip or repeat.
//! Documents are read as the typed message they store (chains through their
//! stored layout's codec).

use crate::error::{ApiResult, AppError};
use crate::params::{Cursor, HistoryParams, Order, Range};
use crate::views::Page;
use ds_runtime::collections::chain;
use ds_schemas::EnrichedChain;
use futures::TryStreamExt as _;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use serde::de::DeserializeOwned;

/// A history query over one collection.
#[derive(Debug, Clone)]
pub struct History {
    /// Collection.
    pub collection: &'static str,
    /// Equality filter (product, expiry, interval …), plain scalars only.
    pub filter: Document,
    /// The time field the collection is ordered by (`ts_unix_ns`, `start_unix_ns`).
    pub time_field: &'static str,
    /// Whether two documents may share a time (then `_id` breaks ties).
    pub ties: bool,
    /// Range on `time_field`.
    pub range: Range,
    /// Sort order.
    pub order: Order,
    /// Page size.
    pub limit: i64,
    /// Where to resume.
    pub cursor: Option<Cursor>,
    /// Fields to return, an inclusive projection (all fields when `None`).
    pub projection: Option<Document>,
}

impl History {
    /// A query of `collection` where `filter` holds, ordered by `time_field`
    /// (ties broken by `_id`), as `params` ask.
    ///
    /// # Errors
    /// 400 naming a bad parameter.
    pub fn new(
        collection: &'static str,
        filter: Document,
        time_field: &'static str,
        params: &HistoryParams,
    ) -> ApiResult<Self> {
        let p = params.parse()?;
        Ok(Self {
            collection,
            filter,
            time_field,
            ties: true,
            range: p.range,
            order: p.order,
            limit: p.limit,
            cursor: p.cursor,
            projection: None,
        })
    }

    fn mongo_filter(&self) -> Document {
        let mut f = self.filter.clone();
        let mut and: Vec<Bson> = Vec::new();
        let mut range = Document::new();
        if let Some(from) = self.range.from {
            range.insert("$gte", from);
        }
        if let Some(to) = self.range.to {
            range.insert("$lt", to);
        }
        if !range.is_empty() {
            and.push(doc! { self.time_field: range }.into());
        }
        if let Some(c) = &self.cursor {
            let op = match self.order {
                Order::Desc => "$lt",
                Order::Asc => "$gt",
            };
            if self.ties {
                and.push(
                    doc! {"$or": [
                        { self.time_field: { op: c.ts } },
                        { self.time_field: c.ts, "_id": { op: c.id.as_str() } },
                    ]}
                    .into(),
                );
            } else {
                and.push(doc! { self.time_field: { op: c.ts } }.into());
            }
        }
        if !and.is_empty() {
            f.insert("$and", and);
        }
        f
    }

    /// Runs the query, reading each document as the message `M` it holds.
    ///
    /// # Errors
    /// When MongoDB fails (503 when unreachable), or a document is not an `M`
    /// (500: a projection out of step with the contract, never papered over).
    pub async fn run<M: DeserializeOwned>(self, db: &mongodb::Database) -> ApiResult<Page<M>> {
        self.run_with(db, read).await
    }

    /// Runs the query, reading each document with `decode`.
    ///
    /// # Errors
    /// As [`History::run`].
    pub async fn run_with<M>(
        self,
        db: &mongodb::Database,
        decode: impl Fn(&str, &RawDocumentBuf) -> ApiResult<M>,
    ) -> ApiResult<Page<M>> {
        let mut sort = doc! { self.time_field: self.order.dir() };
        if self.ties {
            sort.insert("_id", self.order.dir());
        }
        let coll = db.collection::<RawDocumentBuf>(self.collection);
        let mut find = coll
            .find(self.mongo_filter())
            .sort(sort)
            .limit(self.limit + 1);
        if let Some(p) = &self.projection {
            // An inclusive projection must keep what the cursor is made of.
            let mut p = p.clone();
            p.insert(self.time_field, 1);
            find = find.projection(p);
        }
        let mut docs: Vec<RawDocumentBuf> = find.await?.try_collect().await?;
        let more = docs.len() as i64 > self.limit;
        docs.truncate(self.limit.max(0) as usize);
        let next_cursor = if more {
            docs.last().and_then(|d| {
                let ts = d.get_i64(self.time_field).ok()?;
                let id = d.get_str("_id").ok()?.to_owned();
                Some(
                    Cursor {
                        order: self.order,
                        ts,
                        id,
                    }
                    .encode(),
                )
            })
        } else {
            None
        };
        let items = docs
            .iter()
            .map(|d| decode(self.collection, d))
            .collect::<ApiResult<Vec<M>>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// A stored chain of `collection` (`option_chains`, `chain_latest`), in its
/// stored layout ([`ds_runtime::collections::chain`]).
///
/// # Errors
/// 500 naming the document when it is not a chain.
pub fn read_chain(collection: &str, d: &RawDocumentBuf) -> ApiResult<EnrichedChain> {
    chain::decode(d).map_err(|e| {
        let id = d.get_str("_id").unwrap_or("?");
        AppError::Internal(anyhow::anyhow!(
            "document {id} of {collection} is not a valid chain: {e}"
        ))
    })
}

/// A stored document of `collection` as the message `M` it holds.
///
/// # Errors
/// 500 naming the document when it is not an `M`.
pub fn read<M: DeserializeOwned>(collection: &str, d: &RawDocumentBuf) -> ApiResult<M> {
    mongodb::bson::from_slice(d.as_bytes()).map_err(|e| {
        let id = d.get_str("_id").unwrap_or("?");
        AppError::Internal(anyhow::anyhow!(
            "document {id} of {collection} is not a valid message: {e}"
        ))
    })
}
