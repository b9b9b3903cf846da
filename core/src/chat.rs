//! Chat templates: how a conversation becomes prompt text.
//!
//! Rendering is split so that a multi-turn session can keep its KV cache and feed only what
//! is new each turn: [`ChatTemplate::render_message`] renders one message,
//! [`ChatTemplate::generation_prompt`] opens the assistant's reply, and
//! [`ChatTemplate::end_of_turn`] is the text that closes a generated reply (the model emits it
//! as its EOT token). [`ChatTemplate::render`] is exactly their concatenation, and
//! `generation_prompt() + reply + end_of_turn()` equals `render_message` of that reply (for
//! Llama-3, once the reply is trimmed as that format trims content). BOS is not part of the
//! text: the engine adds it as a token.

use std::ops::Range;

use crate::tokenizer::special::{END_HEADER_ID, EOT_ID, START_HEADER_ID};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person talking to the model.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The lower-case role name Llama-3 headers use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "ChatMessage"))]
pub struct Message {
    /// Its author.
    pub role: Role,
    /// Its text.
    pub content: String,
}

impl Message {
    /// A message from `role` saying `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A prompt format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// BitNet b1.58 2B4T's own format (its HF chat template): each message is
    /// `System: {content}<|eot_id|>`, `User: {content}<|eot_id|>` or
    /// `Assistant: {content}<|eot_id|>`, content as given; the reply is opened by
    /// `Assistant: `. (The llama.cpp fork shipped with bitnet.cpp renders a system
    /// message without `<|eot_id|>` and past replies without their closing `<|eot_id|>`;
    /// this follows the model's HF template instead.)
    BitNet,
    /// Llama-3: `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>`, with the
    /// content trimmed of ASCII whitespace as llama.cpp and the HF template do; the reply is
    /// opened by `<|start_header_id|>assistant<|end_header_id|>\n\n`.
    Llama3,
}

/// Closes every message in both formats.
const END_OF_TURN: &str = EOT_ID;
/// Opens the assistant's reply in the BitNet format.
const BITNET_GENERATION_PROMPT: &str = "Assistant: ";
/// Opens the assistant's reply in the Llama-3 format.
const LLAMA3_GENERATION_PROMPT: &str = "<|start_header_id|>assistant<|end_header_id|>\n\n";

impl ChatTemplate {
    /// The format for a GGUF `tokenizer.chat_template`: Llama-3 when the template uses
    /// Llama-3 headers (`<|start_header_id|>` and `<|end_header_id|>`, llama.cpp's test),
    /// BitNet otherwise, including when there is no template. (2B4T's GGUF carries a
    /// placeholder template containing `BITNETAssistant` that is not what the model was
    /// trained on.)
    pub fn detect(chat_template: Option<&str>) -> Self {
        match chat_template {
            Some(t) if t.contains(START_HEADER_ID) && t.contains(END_HEADER_ID) => Self::Llama3,
            _ => Self::BitNet,
        }
    }

    /// The text of one message, including its closing `<|eot_id|>`.
    pub fn render_message(&self, message: &Message) -> String {
        let mut text = String::new();
        self.push_message(message, &mut text);
        text
    }

    /// Appends the text of `message` to `out` and returns the byte range of its content
    /// there: the part a tokenizer must treat as plain text
    /// ([`Tokenizer::encode_with_content`](crate::tokenizer::Tokenizer::encode_with_content)),
    /// so that a message cannot spell the template's control tokens.
    pub fn push_message(&self, message: &Message, out: &mut String) -> Range<usize> {
        let content = match self {
            Self::BitNet => {
                let label = match message.role {
                    Role::System => "System",
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                };
                out.push_str(label);
                out.push_str(": ");
                message.content.as_str()
            }
            Self::Llama3 => {
                out.push_str(START_HEADER_ID);
                out.push_str(message.role.as_str());
                out.push_str(END_HEADER_ID);
                out.push_str("\n\n");
                trim_ascii_space(&message.content)
            }
        };
        let start = out.len();
        out.push_str(content);
        let range = start..out.len();
        out.push_str(END_OF_TURN);
        range
    }

    /// The text that opens the assistant's reply.
    pub fn generation_prompt(&self) -> &'static str {
        match self {
            Self::BitNet => BITNET_GENERATION_PROMPT,
            Self::Llama3 => LLAMA3_GENERATION_PROMPT,
        }
    }

    /// The text that closes a generated reply (`<|eot_id|>`): after a reply the engine
    /// appends it (if generation stopped for another reason) so the next turn follows a
    /// complete message, exactly as [`render_message`](Self::render_message) would have
    /// written it.
    pub fn end_of_turn(&self) -> &'static str {
        END_OF_TURN
    }

    /// The whole conversation, without BOS, followed by the generation prompt when
    /// `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut text = String::new();
        for message in messages {
            self.push_message(message, &mut text);
        }
        if add_generation_prompt {
            text.push_str(self.generation_prompt());
        }
        text
    }
}

/// `text` without leading and trailing C `isspace` characters (space, \t, \n, \v, \f, \r),
/// the trim llama.cpp applies to Llama-3 message content.
fn trim_ascii_space(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Vec<Message> {
        vec![
            Message::new(Role::System, "You are terse."),
            Message::new(Role::User, "Hi!"),
            Message::new(Role::Assistant, "Hello."),
            Message::new(Role::User, " Two\nlines \n"),
        ]
    }

    #[test]
    fn bitnet_format() {
        let text = ChatTemplate::BitNet.render(&conversation(), true);
        assert_eq!(
            text,
            "System: You are terse.<|eot_id|>User: Hi!<|eot_id|>Assistant: Hello.<|eot_id|>\
             User:  Two\nlines \n<|eot_id|>Assistant: "
        );
        assert_eq!(
            ChatTemplate::BitNet.render(&conversation()[1..2], false),
            "User: Hi!<|eot_id|>"
        );
    }

    #[test]
    fn llama3_format_trims_like_llama_cpp() {
        let text = ChatTemplate::Llama3.render(&conversation(), true);
        assert_eq!(
            text,
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nTwo\nlines<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        // Only C isspace characters are trimmed, not other Unicode spaces.
        let message = Message::new(Role::User, "\u{3000}x\x0b\x0c");
        assert!(ChatTemplate::Llama3
            .render_message(&message)
            .contains("\n\n\u{3000}x<|eot_id|>"));
    }

    /// A session renders turn by turn: prompt, generated reply, end of turn, next message.
    /// The text fed to the model must equal rendering the whole history at once.
    #[test]
    fn incremental_turns_equal_full_render() {
        for template in [ChatTemplate::BitNet, ChatTemplate::Llama3] {
            let messages = conversation();
            let mut fed = String::new();
            for message in &messages {
                if message.role == Role::Assistant {
                    // The model generated the reply after the prompt; the engine closes it.
                    fed.push_str(template.generation_prompt());
                    fed.push_str(&message.content);
                    fed.push_str(template.end_of_turn());
                } else {
                    fed.push_str(&template.render_message(message));
                }
            }
            fed.push_str(template.generation_prompt());
            assert_eq!(fed, template.render(&messages, true), "{template:?}");
        }
    }

    #[test]
    fn detect_by_headers() {
        let llama3 = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n\
                      {{ m.content }}<|eot_id|>{% endfor %}";
        assert_eq!(ChatTemplate::detect(Some(llama3)), ChatTemplate::Llama3);
        let bitnet_placeholder =
            "{% for m in messages %}Human: {{ m.content }}\n\nBITNETAssistant: \
                                  {% endfor %}";
        assert_eq!(
            ChatTemplate::detect(Some(bitnet_placeholder)),
            ChatTemplate::BitNet
        );
        assert_eq!(ChatTemplate::detect(None), ChatTemplate::BitNet);
        assert_eq!(
            ChatTemplate::detect(Some("<|start_header_id|> only")),
            ChatTemplate::BitNet
        );
    }

    #[test]
    fn end_of_turn_is_eot() {
        for template in [ChatTemplate::BitNet, ChatTemplate::Llama3] {
            assert_eq!(template.end_of_turn(), "<|eot_id|>");
            assert!(template
                .render_message(&Message::new(Role::User, "x"))
                .ends_with(template.end_of_turn()));
        }
    }
}
