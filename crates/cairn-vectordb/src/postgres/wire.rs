//! pgvector's `vector` and Postgres' `jsonb` in their binary wire formats (parameters, binary
//! `COPY`, and vectors read back).

use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// A vector parameter in pgvector's binary format (dimension, unused, big-endian floats).
pub(super) struct PgVector<'a>(pub(super) &'a [f32]);

impl std::fmt::Debug for PgVector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vector({})", self.0.len())
    }
}

impl ToSql for PgVector<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let dim = u16::try_from(self.0.len())?;
        out.reserve(4 + 4 * self.0.len());
        out.put_u16(dim);
        out.put_u16(0);
        for x in self.0 {
            out.put_f32(*x);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

/// A vector read back.
pub(super) struct VectorOut(pub(super) Vec<f32>);

impl<'a> FromSql<'a> for VectorOut {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if raw.len() < 4 {
            return Err("a vector value shorter than its header".into());
        }
        let dim = u16::from_be_bytes([raw[0], raw[1]]) as usize;
        let body = &raw[4..];
        if body.len() != 4 * dim {
            return Err(format!("a vector of {dim} dimensions has {} bytes", body.len()).into());
        }
        Ok(VectorOut(
            body.chunks_exact(4)
                .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ))
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}

/// JSON text as a binary `jsonb` value (format version 1, then the text).
#[derive(Debug)]
pub(super) struct JsonbText<'a>(pub(super) &'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}
