//! The tool definitions each dataset request offered, compiled once, so that a served tool call
//! can be checked against them: a call to a tool the request did not offer, or arguments that are
//! valid JSON but break the tool's `parameters` schema (a required key missing, a wrong type), is
//! what a broken tool-call parser or a degraded model serves while every text metric still looks
//! fine (verification.md §7.2, `args_schema_valid`).
//!
//! Datasets keep each session's distinct tool lists as JSON text (`sessions.tool_sets`) and each
//! turn's index into them (`turns.tool_set_index`). Identical lists recur across sessions, so each
//! distinct text is parsed and compiled once.

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::dataset::Dataset;
use crate::schema::{SessionRow, TurnRow, columns};
use crate::store::StoreError;

/// One request's tools: by name, the validator of its parameters (`None`: no schema to check, or
/// one that does not compile; such a tool's calls are checked by name only).
#[derive(Debug, Default)]
pub struct ToolSet {
    tools: FxHashMap<String, Option<jsonschema::Validator>>,
}

impl ToolSet {
    /// Parses a tool list in OpenAI `tools` form (`[{"type": "function", "function": {"name",
    /// "parameters"}}]`; bare `{"name", "parameters" | "input_schema"}` entries are read too).
    /// What cannot be used is described in `notes`; `None` when the text is not a JSON array
    /// (its turns' calls are then not checked).
    fn parse(text: &str, notes: &mut Vec<String>) -> Option<ToolSet> {
        let mut set = ToolSet::default();
        let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(text) else {
            notes.push(
                "a tool list of the dataset is not a JSON array; calls of its turns are not \
                 checked against schemas"
                    .to_owned(),
            );
            return None;
        };
        for entry in &entries {
            let definition = entry.get("function").unwrap_or(entry);
            let Some(name) = definition.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = definition
                .get("parameters")
                .or_else(|| definition.get("input_schema"));
            let validator = schema.and_then(|schema| match jsonschema::validator_for(schema) {
                Ok(validator) => Some(validator),
                Err(error) => {
                    notes.push(format!(
                        "the parameters schema of tool `{name}` does not compile ({error}); its \
                         calls are checked by name only"
                    ));
                    None
                }
            });
            set.tools.insert(name.to_owned(), validator);
        }
        Some(set)
    }

    /// Whether a call of `name` with these arguments (parsed; `None` when not JSON) breaks this
    /// tool list: a tool it does not have, or arguments its schema rejects. Arguments that are not
    /// JSON are the `invalid_tool_arguments` guardrail's, not this one's.
    pub fn violated_by(&self, name: &str, arguments: Option<&Value>) -> bool {
        match self.tools.get(name) {
            None => true,
            Some(None) => false,
            Some(Some(validator)) => {
                arguments.is_some_and(|arguments| !validator.is_valid(arguments))
            }
        }
    }
}

/// The tool lists of the verified turns.
#[derive(Debug, Default)]
pub struct ToolSchemas {
    /// Distinct tool lists (`None`: unreadable, not checked).
    sets: Vec<Option<ToolSet>>,
    /// Per verified turn, its index into `sets` (`None`: the request offered no tools).
    turn_sets: Vec<Option<u32>>,
    /// What could not be checked, for the report's warnings.
    pub notes: Vec<String>,
}

impl ToolSchemas {
    /// The tool lists of the turns `(session, turn index)`, sessions given as their dataset rows.
    pub fn new(
        dataset: &Dataset,
        sessions: &[&SessionRow],
        turn_session: &[u32],
        turn_index: &[u32],
    ) -> Result<ToolSchemas, StoreError> {
        let mut schemas = ToolSchemas {
            turn_sets: vec![None; turn_session.len()],
            ..ToolSchemas::default()
        };
        if sessions.iter().all(|session| session.tool_sets.is_empty()) {
            return Ok(schemas);
        }
        // Each turn's index into its session's tool lists, by `turns` row.
        let mut row_sets: Vec<Option<u32>> = Vec::new();
        for batch in dataset
            .reader()
            .scan::<TurnRow>(&[columns::TOOL_SET_INDEX], None)?
        {
            let batch = batch?;
            let Some(column) = batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::UInt32Array>()
            else {
                return Err(StoreError::MissingColumn {
                    path: dataset
                        .reader()
                        .directory()
                        .join(crate::store::table_file::<TurnRow>()),
                    column: format!("{} (of another type)", columns::TOOL_SET_INDEX),
                });
            };
            row_sets.extend(column.iter());
        }
        let mut distinct: FxHashMap<&str, u32> = FxHashMap::default();
        for (turn, (&session, &index)) in turn_session.iter().zip(turn_index).enumerate() {
            let Some(session) = sessions.get(session as usize) else {
                continue;
            };
            let row =
                usize::try_from(session.turn_row_offset + u64::from(index)).unwrap_or(usize::MAX);
            let Some(text) = row_sets
                .get(row)
                .copied()
                .flatten()
                .and_then(|set| session.tool_sets.get(set as usize))
            else {
                continue;
            };
            let next = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
            let set = *distinct.entry(text.as_str()).or_insert_with(|| {
                schemas.sets.push(ToolSet::parse(text, &mut schemas.notes));
                next
            });
            schemas.turn_sets[turn] = Some(set);
        }
        schemas.notes.sort();
        schemas.notes.dedup();
        Ok(schemas)
    }

    /// The tools turn `turn` offered, when it offered any.
    pub fn for_turn(&self, turn: usize) -> Option<&ToolSet> {
        let set = self.turn_sets.get(turn).copied().flatten()?;
        self.sets.get(set as usize)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_checked_against_the_offered_schemas() {
        let mut notes = Vec::new();
        let set = ToolSet::parse(
            r#"[{"type": "function", "function": {"name": "bash", "parameters": {"type": "object",
                "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
                "required": ["command"]}}},
               {"type": "function", "function": {"name": "finish"}},
               {"name": "edit", "input_schema": {"type": "object", "required": ["path"]}},
               {"type": "function", "function": {"name": "broken", "parameters": {"type": 5}}}]"#,
            &mut notes,
        )
        .unwrap_or_default();
        let json = |text: &str| serde_json::from_str::<Value>(text).ok();
        assert!(!set.violated_by("bash", json(r#"{"command": "ls", "timeout": 3}"#).as_ref()));
        assert!(set.violated_by("bash", json(r#"{"timeout": 3}"#).as_ref()));
        assert!(set.violated_by("bash", json(r#"{"command": 7}"#).as_ref()));
        assert!(
            !set.violated_by("bash", None),
            "not JSON: the other guardrail's"
        );
        assert!(!set.violated_by("finish", json("{}").as_ref()));
        assert!(set.violated_by("edit", json("{}").as_ref()));
        assert!(!set.violated_by("edit", json(r#"{"path": "a"}"#).as_ref()));
        assert!(
            set.violated_by("python", json("{}").as_ref()),
            "not offered"
        );
        assert!(!set.violated_by("broken", json("{}").as_ref()));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("`broken`"), "{notes:?}");
        let mut notes = Vec::new();
        assert!(ToolSet::parse("not json", &mut notes).is_none());
        assert_eq!(notes.len(), 1);
    }
}
