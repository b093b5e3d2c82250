//! The structural pre-check: one cheap pass over a component's binary with
//! `wasmparser` (the version wasmtime itself uses) before anything compiles
//! it. It refuses the obvious compile bombs with a clear error naming the
//! limit: too many functions, one huge function body, deep block nesting,
//! too many locals, deeply nested components, nested components instantiated
//! so often that the flattened component explodes, and floods of imports or
//! exports. It reads each byte once and keeps a few counters per nesting
//! level, so its own cost is linear in the size of the component (which
//! [`Limits::max_component_bytes`] caps) and its memory is small.
//!
//! It is not a validator: what it does not count is left to wasmtime, whose
//! compilation runs in the resource-limited worker anyway.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Operator, Parser, Payload,
};

use super::{Limits, LoadError};

/// A structural property the pre-check bounds, with the [`Limits`] field
/// that bounds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// Functions defined in all core modules ([`Limits::max_functions`]).
    Functions,
    /// Bytes of one function body ([`Limits::max_function_body_bytes`]).
    FunctionBodyBytes,
    /// Block nesting in one function ([`Limits::max_nesting_depth`]).
    NestingDepth,
    /// Locals of one function ([`Limits::max_locals`]).
    Locals,
    /// Nesting of components ([`Limits::max_component_nesting`]).
    ComponentNesting,
    /// Instances created when instantiating, flattened ([`Limits::max_flat_instances`]).
    FlatInstances,
    /// Imports of one module or component ([`Limits::max_imports`]).
    Imports,
    /// Exports of one module or component ([`Limits::max_exports`]).
    Exports,
}

impl Structure {
    /// The name of the [`Limits`] field that bounds this property.
    pub fn limit_name(self) -> &'static str {
        match self {
            Structure::Functions => "max_functions",
            Structure::FunctionBodyBytes => "max_function_body_bytes",
            Structure::NestingDepth => "max_nesting_depth",
            Structure::Locals => "max_locals",
            Structure::ComponentNesting => "max_component_nesting",
            Structure::FlatInstances => "max_flat_instances",
            Structure::Imports => "max_imports",
            Structure::Exports => "max_exports",
        }
    }

    fn limit(self, limits: &Limits) -> u64 {
        match self {
            Structure::Functions => limits.max_functions,
            Structure::FunctionBodyBytes => limits.max_function_body_bytes,
            Structure::NestingDepth => limits.max_nesting_depth,
            Structure::Locals => limits.max_locals,
            Structure::ComponentNesting => limits.max_component_nesting,
            Structure::FlatInstances => limits.max_flat_instances,
            Structure::Imports => limits.max_imports,
            Structure::Exports => limits.max_exports,
        }
    }
}

impl std::fmt::Display for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Structure::Functions => "functions",
            Structure::FunctionBodyBytes => "bytes in one function body",
            Structure::NestingDepth => "nested blocks in one function",
            Structure::Locals => "locals in one function",
            Structure::ComponentNesting => "levels of nested components",
            Structure::FlatInstances => "instances created when instantiating (flattened)",
            Structure::Imports => "imports of one module or component",
            Structure::Exports => "exports of one module or component",
        })
    }
}

/// One module or component being read (they nest).
struct Frame {
    component: bool,
    /// Flattened instance count of each entry of the component index space.
    components: Vec<u64>,
    /// Instances this component creates when instantiated, nested ones included.
    flat: u64,
}

impl Frame {
    fn new(component: bool) -> Frame {
        Frame {
            component,
            components: Vec::new(),
            flat: 0,
        }
    }
}

struct Check<'l> {
    limits: &'l Limits,
    frames: Vec<Frame>,
    functions: u64,
    function_index: u64,
}

impl Check<'_> {
    fn bound(
        &self,
        what: Structure,
        found: u64,
        at: impl FnOnce() -> String,
    ) -> Result<(), LoadError> {
        let limit = what.limit(self.limits);
        if found > limit {
            Err(LoadError::TooComplex {
                what,
                found,
                limit,
                at: at(),
            })
        } else {
            Ok(())
        }
    }

    fn depth(&self) -> u64 {
        let components = self.frames.iter().filter(|f| f.component).count();
        u64::try_from(components).unwrap_or(u64::MAX)
    }

    fn top(&mut self) -> Result<&mut Frame, LoadError> {
        self.frames.last_mut().ok_or_else(|| LoadError::Invalid {
            message: "a section outside any module or component".into(),
        })
    }

    /// The flattened cost of component `index` of the frame `outer` levels up.
    fn component_cost(&self, outer: u32, index: u32) -> u64 {
        let level = self
            .frames
            .len()
            .checked_sub(1 + outer as usize)
            .and_then(|i| self.frames.get(i));
        level
            .and_then(|f| f.components.get(index as usize))
            .copied()
            .unwrap_or(0)
    }

    fn payload(&mut self, payload: Payload<'_>) -> Result<(), LoadError> {
        match payload {
            Payload::Version {
                encoding, range, ..
            } => {
                self.frames
                    .push(Frame::new(encoding == Encoding::Component));
                let depth = self.depth();
                self.bound(Structure::ComponentNesting, depth, || {
                    format!("in the component at byte {}", range.start)
                })?;
            }
            Payload::End(_) => {
                if let Some(done) = self.frames.pop()
                    && done.component
                {
                    let flat = done.flat;
                    if let Some(parent) = self.frames.last_mut() {
                        parent.components.push(flat);
                    } else {
                        self.bound(Structure::FlatInstances, flat, || {
                            "in the whole component".into()
                        })?;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                self.functions = self.functions.saturating_add(u64::from(reader.count()));
                let functions = self.functions;
                self.bound(Structure::Functions, functions, || {
                    format!("in the function section at byte {}", reader.range().start)
                })?;
            }
            Payload::CodeSectionStart { .. } => self.function_index = 0,
            Payload::CodeSectionEntry(body) => {
                let index = self.function_index;
                self.function_index += 1;
                self.body(index, &body)?;
            }
            Payload::ImportSection(reader) => {
                let start = reader.range().start;
                let count = reader.into_imports().count();
                self.bound(Structure::Imports, count as u64, || {
                    format!("in the import section at byte {start}")
                })?;
            }
            Payload::ExportSection(reader) => {
                self.bound(Structure::Exports, u64::from(reader.count()), || {
                    format!("in the export section at byte {}", reader.range().start)
                })?;
            }
            Payload::ComponentImportSection(reader) => {
                self.bound(Structure::Imports, u64::from(reader.count()), || {
                    format!(
                        "in the component import section at byte {}",
                        reader.range().start
                    )
                })?;
                for import in reader {
                    let import = import.map_err(invalid)?;
                    if let ComponentTypeRef::Component(_) = import.ty {
                        // Supplied from outside: nothing of it is compiled here.
                        self.top()?.components.push(0);
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                self.bound(Structure::Exports, u64::from(reader.count()), || {
                    format!(
                        "in the component export section at byte {}",
                        reader.range().start
                    )
                })?;
                for export in reader {
                    let export = export.map_err(invalid)?;
                    if export.kind == ComponentExternalKind::Component {
                        let cost = self.component_cost(0, export.index);
                        self.top()?.components.push(cost);
                    }
                }
            }
            Payload::InstanceSection(reader) => {
                let frame = self.top()?;
                frame.flat = frame.flat.saturating_add(u64::from(reader.count()));
                self.flat_bound(reader.range().start)?;
            }
            Payload::ComponentInstanceSection(reader) => {
                let start = reader.range().start;
                for instance in reader {
                    let cost = match instance.map_err(invalid)? {
                        ComponentInstance::Instantiate {
                            component_index, ..
                        } => self.component_cost(0, component_index).saturating_add(1),
                        ComponentInstance::FromExports(_) => 1,
                    };
                    let frame = self.top()?;
                    frame.flat = frame.flat.saturating_add(cost);
                    self.flat_bound(start)?;
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    let cost = match alias.map_err(invalid)? {
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::Component,
                            count,
                            index,
                        } => self.component_cost(count, index),
                        // A component exported by an instance: its instances
                        // were counted where that instance was created.
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Component,
                            ..
                        } => 0,
                        _ => continue,
                    };
                    self.top()?.components.push(cost);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A running flattened count that is already over the limit stops the
    /// pass at once (nested counts only grow).
    fn flat_bound(&self, at: usize) -> Result<(), LoadError> {
        let flat = self.frames.last().map(|f| f.flat).unwrap_or(0);
        self.bound(Structure::FlatInstances, flat, || {
            format!("in the instance section at byte {at}")
        })
    }

    fn body(&self, index: u64, body: &wasmparser::FunctionBody<'_>) -> Result<(), LoadError> {
        let range = body.range();
        let at = || {
            format!(
                "in function {index} of its module (body at byte {})",
                range.start
            )
        };
        self.bound(Structure::FunctionBodyBytes, range.len() as u64, at)?;
        let mut locals = 0u64;
        for group in body.get_locals_reader().map_err(invalid)? {
            let (count, _) = group.map_err(invalid)?;
            locals = locals.saturating_add(u64::from(count));
            self.bound(Structure::Locals, locals, at)?;
        }
        let mut ops = body.get_operators_reader().map_err(invalid)?;
        let mut depth = 0u64;
        while !ops.eof() {
            match ops.read().map_err(invalid)? {
                Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::Try { .. }
                | Operator::TryTable { .. } => {
                    depth += 1;
                    self.bound(Structure::NestingDepth, depth, at)?;
                }
                Operator::End => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }
}

fn invalid(e: wasmparser::BinaryReaderError) -> LoadError {
    LoadError::Invalid {
        message: e.to_string(),
    }
}

/// Runs the pre-check over a binary component.
pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<(), LoadError> {
    let mut check = Check {
        limits,
        frames: Vec::new(),
        functions: 0,
        function_index: 0,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        check.payload(payload.map_err(invalid)?)?;
    }
    Ok(())
}
