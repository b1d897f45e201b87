//! A small, strictly validating reader for the pickle `torch.save` writes for a state dict.
//!
//! Nothing is ever executed: the few globals a state dict needs (`collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`, the `torch.*Storage` types) are
//! recognised by name and every other global or opcode is refused, naming it. The machine's size
//! is bounded by the pickle's: values are shared (`Rc`), the memo is a map (an index cannot make
//! it allocate), nesting is capped (dropping a deep value cannot overflow the stack) and a dict
//! cannot be changed once it is inside another value, so no value can contain itself.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::{CheckpointError, DType};

/// A tensor of the state dict: which storage, where in it, and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// The state dict's key.
    pub name: String,
    /// The storage's key: its bytes are the zip entry `<archive>/data/<key>`.
    pub storage_key: String,
    /// Element type of the storage.
    pub dtype: DType,
    /// Elements in the whole storage (tensors may share one, e.g. tied weights).
    pub storage_elements: usize,
    /// Index of the tensor's first element in the storage.
    pub offset_elements: usize,
    /// Dimensions, outermost first (the strides were checked to be contiguous).
    pub shape: Vec<usize>,
}

/// Values deeper than this are refused: a state dict nests four levels at most.
const MAX_DEPTH: usize = 32;

/// The callables and classes a state dict's pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
}

impl Global {
    fn find(module: &str, name: &str) -> Result<Self, CheckpointError> {
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Self::RebuildParameter,
            ("torch", "FloatStorage") => Self::Storage(DType::F32),
            ("torch", "HalfStorage") => Self::Storage(DType::F16),
            ("torch", "BFloat16Storage") => Self::Storage(DType::BF16),
            ("torch", "DoubleStorage") => Self::Storage(DType::F64),
            ("torch", "LongStorage") => Self::Storage(DType::I64),
            ("torch", "IntStorage") => Self::Storage(DType::I32),
            ("torch", "ShortStorage") => Self::Storage(DType::I16),
            ("torch", "CharStorage") => Self::Storage(DType::I8),
            ("torch", "ByteStorage") => Self::Storage(DType::U8),
            ("torch", "BoolStorage") => Self::Storage(DType::Bool),
            _ => return Err(CheckpointError::UnsafePickle(format!("global {module}.{name}"))),
        })
    }
}

/// A storage a persistent id named.
#[derive(Debug)]
struct Storage {
    key: String,
    dtype: DType,
    elements: usize,
}

/// A tensor `_rebuild_tensor_v2` would make.
#[derive(Debug)]
struct Tensor {
    storage: Rc<Storage>,
    offset_elements: usize,
    shape: Vec<usize>,
}

/// A dict (plain or ordered): mutable until it is placed inside another value.
#[derive(Debug, Default)]
struct Dict {
    items: RefCell<Vec<(Value, Value)>>,
    depth: Cell<usize>,
    sealed: Cell<bool>,
}

#[derive(Debug, Clone)]
enum Value {
    None,
    /// True or false: only ever a tensor's `requires_grad`, which does not matter here.
    Bool,
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<[Value]>, usize),
    Dict(Rc<Dict>),
    Global(Global),
    Storage(Rc<Storage>),
    Tensor(Rc<Tensor>),
}

impl Value {
    /// Nesting depth: 0 for a leaf.
    fn depth(&self) -> usize {
        match self {
            Self::Tuple(_, depth) => *depth,
            Self::Dict(dict) => dict.depth.get(),
            _ => 0,
        }
    }

    /// What it is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool => "a bool",
            Self::Int(_) => "an int",
            Self::Str(_) => "a string",
            Self::Tuple(..) => "a tuple",
            Self::Dict(_) => "a dict",
            Self::Global(_) => "a class",
            Self::Storage(_) => "a storage",
            Self::Tensor(_) => "a tensor",
        }
    }

    /// Marks the value as placed inside another one: a dict can no longer change.
    fn seal(&self) {
        if let Self::Dict(dict) = self {
            dict.sealed.set(true);
        }
    }
}

fn corrupt(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt { format: "pytorch-zip", reason: format!("data.pkl: {}", reason.into()) }
}

fn tuple(items: Vec<Value>) -> Result<Value, CheckpointError> {
    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err(corrupt(format!("values nested more than {MAX_DEPTH} deep")));
    }
    items.iter().for_each(Value::seal);
    Ok(Value::Tuple(items.into(), depth))
}

/// The bytes of the pickle, read front to back.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckpointError> {
        let bytes = self.pos.checked_add(n).and_then(|end| self.data.get(self.pos..end)).ok_or_else(|| corrupt("truncated"))?;
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, CheckpointError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, CheckpointError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, CheckpointError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, CheckpointError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn utf8(&mut self, n: usize) -> Result<Rc<str>, CheckpointError> {
        std::str::from_utf8(self.take(n)?).map(Rc::from).map_err(|_| corrupt("a string is not UTF-8"))
    }

    /// A newline-terminated line (GLOBAL's module and name).
    fn line(&mut self) -> Result<&'a str, CheckpointError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let len = rest.iter().position(|&b| b == b'\n').ok_or_else(|| corrupt("truncated"))?;
        let line = std::str::from_utf8(&rest[..len]).map_err(|_| corrupt("a global's name is not UTF-8"))?;
        self.pos += len + 1;
        Ok(line)
    }
}

/// The pickle machine's stack, marks and memo.
#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine {
    fn pop(&mut self) -> Result<Value, CheckpointError> {
        if self.marks.last().is_some_and(|&mark| mark >= self.stack.len()) {
            return Err(corrupt("an opcode reaches past a MARK"));
        }
        self.stack.pop().ok_or_else(|| corrupt("stack underflow"))
    }

    fn top(&self) -> Result<&Value, CheckpointError> {
        self.stack.last().ok_or_else(|| corrupt("stack underflow"))
    }

    /// Everything pushed since the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, CheckpointError> {
        let mark = self.marks.pop().ok_or_else(|| corrupt("no MARK to pop to"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, index: u32) -> Result<Value, CheckpointError> {
        self.memo.get(&index).cloned().ok_or_else(|| corrupt(format!("memo {index} read before it was written")))
    }

    fn memo_put(&mut self, index: u32) -> Result<(), CheckpointError> {
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    /// SETITEM / SETITEMS: pairs into the dict below them.
    fn set_items(&mut self, pairs: Vec<Value>) -> Result<(), CheckpointError> {
        let Value::Dict(dict) = self.top()? else {
            return Err(corrupt(format!("SETITEMS on {}", self.top()?.kind())));
        };
        if dict.sealed.get() {
            return Err(corrupt("a dict changed after it was placed inside another value"));
        }
        if !pairs.len().is_multiple_of(2) {
            return Err(corrupt("SETITEMS with an odd number of values"));
        }
        let depth = 1 + pairs.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(corrupt(format!("values nested more than {MAX_DEPTH} deep")));
        }
        pairs.iter().for_each(Value::seal);
        dict.depth.set(dict.depth.get().max(depth));
        let mut items = dict.items.borrow_mut();
        let mut pairs = pairs.into_iter();
        while let (Some(key), Some(value)) = (pairs.next(), pairs.next()) {
            items.push((key, value));
        }
        Ok(())
    }
}

/// An int argument that must be a size or an index.
fn size(value: &Value, what: &str) -> Result<usize, CheckpointError> {
    match value {
        Value::Int(n) => usize::try_from(*n).map_err(|_| corrupt(format!("{what} is {n}"))),
        other => Err(corrupt(format!("{what} is {}", other.kind()))),
    }
}

fn sizes(value: &Value, what: &str) -> Result<Vec<usize>, CheckpointError> {
    match value {
        Value::Tuple(items, _) => items.iter().map(|v| size(v, what)).collect(),
        other => Err(corrupt(format!("{what} is {}", other.kind()))),
    }
}

/// BINPERSID: `('storage', <torch.XStorage>, key, location, elements)`.
fn persistent_storage(pid: Value) -> Result<Value, CheckpointError> {
    let Value::Tuple(items, _) = &pid else {
        return Err(corrupt(format!("a persistent id is {}", pid.kind())));
    };
    match &items[..] {
        [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Str(_location), elements]
            if &**tag == "storage" =>
        {
            Ok(Value::Storage(Rc::new(Storage { key: key.to_string(), dtype: *dtype, elements: size(elements, "a storage's size")? })))
        }
        _ => Err(CheckpointError::UnsafePickle("a persistent id other than a torch storage".into())),
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])`.
fn rebuild_tensor(args: &[Value]) -> Result<Value, CheckpointError> {
    let [Value::Storage(storage), offset, shape, stride, Value::Bool, hooks, rest @ ..] = args else {
        return Err(corrupt("_rebuild_tensor_v2 called with arguments torch never writes"));
    };
    if !matches!(hooks, Value::Dict(d) if d.items.borrow().is_empty()) || rest.len() > 1 {
        return Err(CheckpointError::UnsafePickle("a tensor with backward hooks".into()));
    }
    let offset_elements = size(offset, "a tensor's storage offset")?;
    let shape = sizes(shape, "a tensor's shape")?;
    let stride = sizes(stride, "a tensor's stride")?;
    if stride.len() != shape.len() {
        return Err(corrupt(format!("a tensor's shape {shape:?} and stride {stride:?} differ in length")));
    }
    // Row-major strides; a dimension of size 1 may have any stride (torch leaves it as it was).
    let mut expected = 1usize;
    for (&dim, &step) in shape.iter().zip(&stride).rev() {
        if dim != 1 && step != expected {
            return Err(CheckpointError::Unsupported(format!(
                "a tensor of shape {shape:?} has strides {stride:?}: only contiguous tensors are read (re-save with .contiguous())"
            )));
        }
        expected = expected.checked_mul(dim).ok_or_else(|| corrupt(format!("a tensor's shape {shape:?} overflows")))?;
    }
    let end = offset_elements.checked_add(expected).ok_or_else(|| corrupt("a tensor's offset overflows"))?;
    if expected > 0 && end > storage.elements {
        return Err(corrupt(format!(
            "a tensor of shape {shape:?} at offset {offset_elements} runs past its storage of {} elements",
            storage.elements
        )));
    }
    Ok(Value::Tensor(Rc::new(Tensor { storage: Rc::clone(storage), offset_elements, shape })))
}

/// REDUCE: the whitelisted callables only.
fn reduce(callable: Value, args: Value) -> Result<Value, CheckpointError> {
    let Value::Tuple(args, _) = args else {
        return Err(corrupt(format!("REDUCE with {} for arguments", args.kind())));
    };
    match callable {
        Value::Global(Global::OrderedDict) if args.is_empty() => Ok(Value::Dict(Rc::default())),
        Value::Global(Global::RebuildTensorV2) => rebuild_tensor(&args),
        Value::Global(Global::RebuildParameter) => match &args[..] {
            [tensor @ Value::Tensor(_), Value::Bool, Value::Dict(hooks)] if hooks.items.borrow().is_empty() => Ok(tensor.clone()),
            _ => Err(corrupt("_rebuild_parameter called with arguments torch never writes")),
        },
        other => Err(CheckpointError::UnsafePickle(format!("calling {}", other.kind()))),
    }
}

/// The state dict a `data.pkl` holds: its tensors in the pickle's order.
pub fn read_state_dict(pickle: &[u8]) -> Result<Vec<PickledTensor>, CheckpointError> {
    let mut r = Reader { data: pickle, pos: 0 };
    let mut m = Machine::default();
    loop {
        let at = r.pos;
        let opcode = r.u8()?;
        match opcode {
            // PROTO: torch.save writes protocol 2; 3–5 only add opcodes handled here or refused.
            0x80 => {
                let protocol = r.u8()?;
                if !(2..=5).contains(&protocol) {
                    return Err(CheckpointError::Unsupported(format!("pickle protocol {protocol}")));
                }
            }
            // FRAME (protocol 4): a length hint only.
            0x95 => {
                r.u64()?;
            }
            b'.' => break,
            b'(' => m.marks.push(m.stack.len()),
            b'N' => m.stack.push(Value::None),
            0x88 | 0x89 => m.stack.push(Value::Bool),
            b'J' => {
                let n = r.u32()?;
                m.stack.push(Value::Int(i64::from(n as i32)));
            }
            b'K' => {
                let n = r.u8()?;
                m.stack.push(Value::Int(i64::from(n)));
            }
            b'M' => {
                let n = r.u16()?;
                m.stack.push(Value::Int(i64::from(n)));
            }
            // LONG1: a little-endian two's-complement int of up to 8 bytes here.
            0x8a => {
                let len = usize::from(r.u8()?);
                if len > 8 {
                    return Err(CheckpointError::Unsupported(format!("an int of {len} bytes")));
                }
                let bytes = r.take(len)?;
                let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
                let mut full = [fill; 8];
                full[..len].copy_from_slice(bytes);
                m.stack.push(Value::Int(i64::from_le_bytes(full)));
            }
            b'X' => {
                let len = r.u32()? as usize;
                let s = r.utf8(len)?;
                m.stack.push(Value::Str(s));
            }
            0x8c => {
                let len = usize::from(r.u8()?);
                let s = r.utf8(len)?;
                m.stack.push(Value::Str(s));
            }
            0x8d => {
                let len = usize::try_from(r.u64()?).map_err(|_| corrupt("truncated"))?;
                let s = r.utf8(len)?;
                m.stack.push(Value::Str(s));
            }
            b')' => m.stack.push(Value::Tuple(Rc::from([]), 1)),
            b't' => {
                let items = m.pop_mark()?;
                m.stack.push(tuple(items)?);
            }
            0x85..=0x87 => {
                let n = usize::from(opcode - 0x84);
                let mut items = (0..n).map(|_| m.pop()).collect::<Result<Vec<_>, _>>()?;
                items.reverse();
                m.stack.push(tuple(items)?);
            }
            b'}' => m.stack.push(Value::Dict(Rc::default())),
            b's' => {
                let value = m.pop()?;
                let key = m.pop()?;
                m.set_items(vec![key, value])?;
            }
            b'u' => {
                let pairs = m.pop_mark()?;
                m.set_items(pairs)?;
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                m.stack.push(Value::Global(Global::find(module, name)?));
            }
            // STACK_GLOBAL (protocol 4): module and name from the stack.
            0x93 => {
                let name = m.pop()?;
                let module = m.pop()?;
                let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                    return Err(corrupt("STACK_GLOBAL without two strings"));
                };
                m.stack.push(Value::Global(Global::find(module, name)?));
            }
            b'Q' => {
                let pid = m.pop()?;
                m.stack.push(persistent_storage(pid)?);
            }
            b'R' => {
                let args = m.pop()?;
                let callable = m.pop()?;
                args.seal();
                m.stack.push(reduce(callable, args)?);
            }
            // BUILD: only the state an OrderedDict carries (its `_metadata`), which is not needed.
            b'b' => {
                let state = m.pop()?;
                match (m.top()?, &state) {
                    (Value::Dict(_), Value::Dict(_) | Value::None) => {}
                    (target, _) => return Err(CheckpointError::UnsafePickle(format!("BUILD on {}", target.kind()))),
                }
            }
            b'q' => {
                let index = u32::from(r.u8()?);
                m.memo_put(index)?;
            }
            b'r' => {
                let index = r.u32()?;
                m.memo_put(index)?;
            }
            // MEMOIZE (protocol 4): the next memo index.
            0x94 => {
                let index = u32::try_from(m.memo.len()).map_err(|_| corrupt("memo overflow"))?;
                m.memo_put(index)?;
            }
            b'h' => {
                let index = u32::from(r.u8()?);
                m.stack.push(m.memo_get(index)?);
            }
            b'j' => {
                let index = r.u32()?;
                m.stack.push(m.memo_get(index)?);
            }
            other => {
                return Err(CheckpointError::UnsafePickle(format!("opcode {} at byte {at}", opcode_name(other))));
            }
        }
    }
    if r.pos != pickle.len() {
        return Err(corrupt("bytes after STOP"));
    }
    let result = m.stack.pop().ok_or_else(|| corrupt("nothing before STOP"))?;
    if !m.stack.is_empty() || !m.marks.is_empty() {
        return Err(corrupt("values left on the stack at STOP"));
    }
    let Value::Dict(dict) = result else {
        return Err(CheckpointError::Unsupported(format!("data.pkl holds {}, not a state dict", result.kind())));
    };
    let items = dict.items.borrow();
    items
        .iter()
        .map(|(key, value)| {
            let Value::Str(name) = key else {
                return Err(CheckpointError::Unsupported(format!("a state dict key is {}", key.kind())));
            };
            let Value::Tensor(tensor) = value else {
                return Err(CheckpointError::Unsupported(format!("state dict entry {name:?} is {}, not a tensor", value.kind())));
            };
            Ok(PickledTensor {
                name: name.to_string(),
                storage_key: tensor.storage.key.clone(),
                dtype: tensor.storage.dtype,
                storage_elements: tensor.storage.elements,
                offset_elements: tensor.offset_elements,
                shape: tensor.shape.clone(),
            })
        })
        .collect()
}

/// The pickle name of an opcode this reader refuses, for the message.
fn opcode_name(opcode: u8) -> String {
    let name = match opcode {
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'L' => "LONG",
        b'P' => "PERSID",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'G' => "BINFLOAT",
        b']' => "EMPTY_LIST",
        b'a' => "APPEND",
        b'e' => "APPENDS",
        b'd' => "DICT",
        b'g' => "GET",
        b'i' => "INST",
        b'l' => "LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8b => "LONG4",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        _ => "unknown",
    };
    format!("{name} (0x{opcode:02x})")
}
