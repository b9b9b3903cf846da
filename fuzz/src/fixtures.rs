//! What the targets share: the demo model's tokenizer, built once per process, and a minimal
//! synthetic model that `model_metadata` mutates and the seed generator writes.

use std::sync::OnceLock;

use bitnet_authoring::{vocabulary, GgufWriter};
use bitnet_core::gguf::{GgufFile, Value};
use bitnet_core::quant::{self, TensorType};
use bitnet_core::tokenizer::{TokenType, Tokenizer, TokenizerSpec};

/// The committed demo model, whose trained vocabulary (4096 tokens, 3837 merges, Llama-3
/// control tokens) is the fixed tokenizer of the text targets.
pub const DEMO_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sample-apps/demo-model/bitnet-demo-i2_s.gguf"
);

/// The demo model's tokenizer and which of its tokens message content must never produce.
#[derive(Debug)]
pub struct DemoTokenizer {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// By id: whether the token is a control or unknown token, matched in raw text but
    /// never inside a chat message's content.
    pub control: Vec<bool>,
}

impl DemoTokenizer {
    /// The control tokens among `ids`, in order.
    pub fn controls(&self, ids: &[u32]) -> Vec<u32> {
        ids.iter()
            .copied()
            .filter(|&id| self.control[id as usize])
            .collect()
    }

    /// The text `decode` gives for the BOS token when `add_bos`, else nothing.
    pub fn bos_text(&self, add_bos: bool) -> String {
        match (add_bos, self.tokenizer.bos()) {
            (true, Some(bos)) => self.tokenizer.decode(&[bos]).expect("BOS decodes"),
            _ => String::new(),
        }
    }
}

/// The demo tokenizer, built on first use.
///
/// # Panics
/// When the demo model cannot be read or its vocabulary is refused.
pub fn demo_tokenizer() -> &'static DemoTokenizer {
    static TOKENIZER: OnceLock<DemoTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let file = GgufFile::open(DEMO_MODEL).expect("the demo model");
        let spec = TokenizerSpec::from_gguf(&file).expect("the demo vocabulary");
        let control = spec
            .token_types
            .iter()
            .map(|&t| {
                matches!(
                    TokenType::from_gguf(t),
                    Some(TokenType::Control | TokenType::Unknown)
                )
            })
            .collect();
        DemoTokenizer {
            tokenizer: Tokenizer::new(&spec).expect("the demo tokenizer"),
            control,
        }
    })
}

/// One tensor of a [`ModelParts`]: its record and its bytes.
#[derive(Clone, Debug)]
pub struct TensorParts {
    /// Name (`blk.0.attn_q.weight`, ...).
    pub name: String,
    /// Dimensions, `ne0` first.
    pub dims: Vec<u64>,
    /// Storage format.
    pub ty: TensorType,
    /// Exactly the bytes `ty` and `dims` need.
    pub data: Vec<u8>,
}

/// A model file before it is written: metadata pairs and tensors, in file order.
#[derive(Clone, Debug)]
pub struct ModelParts {
    /// Metadata pairs (keys unique).
    pub metadata: Vec<(String, Value)>,
    /// Tensors (names unique).
    pub tensors: Vec<TensorParts>,
}

impl ModelParts {
    /// The GGUF file, or `None` when the writer refuses the parts (an invalid alignment value,
    /// a tensor whose bytes do not match its shape).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let mut w = GgufWriter::new();
        for (key, value) in &self.metadata {
            w.add(key.clone(), value.clone());
        }
        for t in &self.tensors {
            w.add_tensor(t.name.clone(), &t.dims, t.ty, t.data.clone())
                .ok()?;
        }
        w.to_bytes().ok()
    }

    /// The tensor called `name`.
    ///
    /// # Panics
    /// When there is none.
    pub fn tensor_mut(&mut self, name: &str) -> &mut TensorParts {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }
}

/// Merges of the built-in vocabulary that [`mini_model`] keeps (the first ones).
const MINI_MERGES: usize = 32;
/// The mini model's width: one I2_S block per row.
const MINI_EMBD: u64 = 128;
/// The mini model's FFN width.
const MINI_FF: u64 = 256;

/// The built-in vocabulary cut to its 256 byte tokens, its first [`MINI_MERGES`] merges (merge
/// `i` makes token `256 + i`) and its control tokens.
fn mini_vocabulary() -> TokenizerSpec {
    let full = vocabulary::builtin();
    let normal = 256 + MINI_MERGES;
    let first_special = full.bos.expect("the built-in vocabulary has BOS") as usize;
    let keep = |v: &[String]| [&v[..normal], &v[first_special..]].concat();
    let shift = |id: Option<u32>| id.map(|id| id - (first_special - normal) as u32);
    TokenizerSpec {
        tokens: keep(&full.tokens),
        token_types: [
            &full.token_types[..normal],
            &full.token_types[first_special..],
        ]
        .concat(),
        merges: full.merges[..MINI_MERGES].to_vec(),
        bos: shift(full.bos),
        eos: shift(full.eos),
        eot: shift(full.eot),
        ..full
    }
}

/// A deterministic stream of values in `[-1, 1)` (xorshift), so the model is the same on
/// every run.
struct Values(u64);

impl Values {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// The smallest model the engine runs as BitNet b1.58 2B4T's graph: one block of width 128
/// (one I2_S block per row), 4 query and 2 KV heads, FFN 256, a 293-token vocabulary with
/// merges and Llama-3 control tokens, F16 tied embedding; about 120 KB.
pub fn mini_model() -> ModelParts {
    let spec = mini_vocabulary();
    let vocab = spec.tokens.len() as u64;
    let arch = "bitnet-b1.58";
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.add("general.architecture", arch)
        .add("general.name", "fuzz mini model")
        .add("general.file_type", 40u32)
        .add(key("context_length"), 256u32)
        .add(key("embedding_length"), MINI_EMBD as u32)
        .add(key("block_count"), 1u32)
        .add(key("feed_forward_length"), MINI_FF as u32)
        .add(key("attention.head_count"), 4u32)
        .add(key("attention.head_count_kv"), 2u32)
        .add(key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5))
        .add(key("rope.freq_base"), Value::F32(500_000.0))
        .add(key("rope.dimension_count"), 32u32)
        .add(key("vocab_size"), vocab as u32);
    vocabulary::add_to(&mut w, &spec, true);
    w.add(
        "tokenizer.chat_template",
        "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n\
         {{ m.content }}<|eot_id|>{% endfor %}",
    );
    let metadata = GgufFile::from_bytes(w.to_bytes().expect("metadata only"))
        .expect("the writer's file")
        .metadata()
        .to_vec();

    let mut values = Values(0x9E37_79B9_7F4A_7C15);
    let kv = MINI_EMBD / 2;
    let mut tensors = Vec::new();
    let mut add = |name: &str, dims: &[u64], ty: TensorType| {
        let n = dims.iter().product::<u64>() as usize;
        let cols = dims[0] as usize;
        let data = match ty {
            TensorType::I2S => {
                let ternary: Vec<i8> = (0..n)
                    .map(|_| ((values.next() + 1.0) * 1.5) as i8 - 1)
                    .collect();
                let scale = 1.0 / (cols as f32).sqrt();
                quant::encode_ternary_tensor(ty, &ternary, cols, scale)
            }
            _ => {
                let x: Vec<f32> = (0..n).map(|_| values.next()).collect();
                quant::quantize_tensor(ty, &x, cols)
            }
        };
        tensors.push(TensorParts {
            name: name.to_owned(),
            dims: dims.to_vec(),
            ty,
            data: data.expect("whole blocks"),
        });
    };
    add("token_embd.weight", &[MINI_EMBD, vocab], TensorType::F16);
    for (name, dims) in [
        ("attn_norm", vec![MINI_EMBD]),
        ("attn_q", vec![MINI_EMBD, MINI_EMBD]),
        ("attn_k", vec![MINI_EMBD, kv]),
        ("attn_v", vec![MINI_EMBD, kv]),
        ("attn_output", vec![MINI_EMBD, MINI_EMBD]),
        ("attn_sub_norm", vec![MINI_EMBD]),
        ("ffn_norm", vec![MINI_EMBD]),
        ("ffn_gate", vec![MINI_EMBD, MINI_FF]),
        ("ffn_up", vec![MINI_EMBD, MINI_FF]),
        ("ffn_down", vec![MINI_FF, MINI_EMBD]),
        ("ffn_sub_norm", vec![MINI_FF]),
    ] {
        let ty = if dims.len() == 1 {
            TensorType::F32
        } else {
            TensorType::I2S
        };
        add(&format!("blk.0.{name}.weight"), &dims, ty);
    }
    add("output_norm.weight", &[MINI_EMBD], TensorType::F32);
    ModelParts { metadata, tensors }
}
