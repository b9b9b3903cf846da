//! `chat_template`: arbitrary conversations rendered by the chat template `detect` picks for an
//! arbitrary template string, then tokenized with their content ranges by the demo tokenizer.
//!
//! Checks: `detect` picks Llama-3 exactly when a template has both Llama-3 headers; each
//! message's content range lies in the text and holds exactly its content (Llama-3: trimmed
//! of C whitespace), followed by the end of turn; `render` is the messages' concatenation;
//! a generated reply closed by `end_of_turn` renders as the message would; the tokens decode
//! back to the text, and their control tokens are exactly the template's own, whatever the
//! messages say.

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use bitnet_core::chat::{ChatTemplate, Message, Role};
use bitnet_core::tokenizer::special::{END_HEADER_ID, START_HEADER_ID};

use crate::fixtures::{demo_tokenizer, DemoTokenizer};

/// A message's author, as the fuzzer chooses it.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Author {
    System,
    User,
    Assistant,
}

/// A structured input.
#[derive(Arbitrary, Debug)]
struct Input {
    /// A `tokenizer.chat_template` value to detect the format from.
    template: Option<String>,
    add_generation_prompt: bool,
    add_bos: bool,
    messages: Vec<(Author, String)>,
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let detected = ChatTemplate::detect(input.template.as_deref());
    let llama3 = input
        .template
        .as_deref()
        .is_some_and(|t| t.contains(START_HEADER_ID) && t.contains(END_HEADER_ID));
    assert_eq!(detected == ChatTemplate::Llama3, llama3);

    let messages: Vec<Message> = input
        .messages
        .into_iter()
        .map(|(author, content)| {
            let role = match author {
                Author::System => Role::System,
                Author::User => Role::User,
                Author::Assistant => Role::Assistant,
            };
            Message::new(role, content)
        })
        .collect();
    let (text, content) = render(detected, &messages, input.add_generation_prompt);
    let framing = (input.add_bos, input.add_generation_prompt);
    tokenize(
        demo_tokenizer(),
        detected,
        &messages,
        framing,
        &text,
        &content,
    );
}

/// The content as `template` writes it.
fn written_content(template: ChatTemplate, content: &str) -> &str {
    match template {
        ChatTemplate::BitNet => content,
        ChatTemplate::Llama3 => {
            content.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
        }
    }
}

/// Renders message by message with `push_message`, checking each range, and returns the text
/// and the content ranges.
fn render(
    template: ChatTemplate,
    messages: &[Message],
    add_generation_prompt: bool,
) -> (String, Vec<Range<usize>>) {
    let mut text = String::new();
    let mut ranges = Vec::new();
    for message in messages {
        let start = text.len();
        let range = template.push_message(message, &mut text);
        assert!(start <= range.start && range.end <= text.len());
        let written = written_content(template, &message.content);
        assert_eq!(text.get(range.clone()), Some(written));
        assert_eq!(&text[range.end..], template.end_of_turn());
        assert_eq!(text[start..], template.render_message(message));
        if message.role == Role::Assistant && written == message.content {
            let generated = [
                template.generation_prompt(),
                &message.content,
                template.end_of_turn(),
            ]
            .concat();
            assert_eq!(generated, text[start..]);
        }
        ranges.push(range);
    }
    if add_generation_prompt {
        text.push_str(template.generation_prompt());
    }
    assert_eq!(text, template.render(messages, add_generation_prompt));
    (text, ranges)
}

/// Tokenizes the rendered `text` as a session does and checks its control tokens against
/// those of the same conversation with every message empty.
fn tokenize(
    demo: &DemoTokenizer,
    template: ChatTemplate,
    messages: &[Message],
    (add_bos, add_generation_prompt): (bool, bool),
    text: &str,
    content: &[Range<usize>],
) {
    let tok = &demo.tokenizer;
    let ids = tok
        .encode_with_content(text, add_bos, content)
        .expect("any text encodes");
    let decoded = tok.decode(&ids).expect("encoded ids decode");
    assert_eq!(decoded, demo.bos_text(add_bos) + text);

    let empty: Vec<Message> = messages.iter().map(|m| Message::new(m.role, "")).collect();
    let frame = template.render(&empty, add_generation_prompt);
    let frame_ids = tok.encode(&frame, add_bos).expect("any text encodes");
    assert_eq!(
        demo.controls(&ids),
        demo.controls(&frame_ids),
        "message content changed the control tokens"
    );
}
