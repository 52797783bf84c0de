//! A chat kind's settings as a save checks them: the message template (syntax, and a render of
//! sample events: `buildhooks_chat::validate_template`, whose errors name the line), the kind's
//! own options (DingTalk's mentions, WeCom's), and the organization's build URL template.

use buildhooks_chat::Kind as ChatKind;

use super::endpoints::ChatOptions;
use super::kinds::EndpointKind;
use super::settings::WebHookDeliveryEndpointInput;

/// Longest message template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 8 * 1024;
/// Longest build URL template, in bytes.
pub const MAX_LINK_TEMPLATE_BYTES: usize = 1024;
/// Most mentions in one list.
pub const MAX_MENTIONS: usize = 20;

/// The template to save (`None`: the kind's default message), or why it is refused.
pub fn check_template(
    kind: EndpointKind,
    template: Option<&str>,
) -> Result<Option<String>, String> {
    let Some(template) = template.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    if kind.chat().is_none() {
        return Err("templates shape chat messages: a WEBHOOK endpoint sends its payload".into());
    }
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("a template has at most {MAX_TEMPLATE_BYTES} bytes"));
    }
    buildhooks_chat::validate_template(template).map_err(|e| e.to_string())?;
    Ok(Some(template.to_owned()))
}

/// The build URL template to save: `None` keeps the saved one, `Some(None)` removes it.
pub fn check_link_template(template: Option<&str>) -> Result<Option<Option<String>>, String> {
    let Some(template) = template else {
        return Ok(None);
    };
    let template = template.trim();
    if template.is_empty() {
        return Ok(Some(None));
    }
    if template.len() > MAX_LINK_TEMPLATE_BYTES {
        return Err(format!(
            "a build URL template has at most {MAX_LINK_TEMPLATE_BYTES} bytes"
        ));
    }
    buildhooks_chat::validate_link_template(template).map_err(|e| e.to_string())?;
    Ok(Some(Some(template.to_owned())))
}

/// The kind's options from the input (`None`: none given, keep the saved ones), or the field
/// and why they are refused: each option belongs to one kind.
pub fn check_options(
    kind: EndpointKind,
    input: &WebHookDeliveryEndpointInput,
) -> Result<Option<ChatOptions>, (&'static str, String)> {
    let chat = kind.chat();
    let only =
        |field: &'static str, given: bool, of: ChatKind| -> Result<(), (&'static str, String)> {
            if given && chat != Some(of) {
                return Err((field, format!("{field} is a {} setting", of.name())));
            }
            Ok(())
        };
    only("atMobiles", input.at_mobiles.is_some(), ChatKind::DingTalk)?;
    only("isAtAll", input.is_at_all.is_some(), ChatKind::DingTalk)?;
    only(
        "mentionedList",
        input.mentioned_list.is_some(),
        ChatKind::WeCom,
    )?;
    let lists = [
        ("atMobiles", input.at_mobiles.as_deref().unwrap_or_default()),
        (
            "mentionedList",
            input.mentioned_list.as_deref().unwrap_or_default(),
        ),
    ];
    for (field, list) in lists {
        if list.len() > MAX_MENTIONS {
            return Err((field, format!("at most {MAX_MENTIONS} mentions")));
        }
        if let Some(bad) = list
            .iter()
            .find(|m| m.is_empty() || m.len() > 64 || m.chars().any(char::is_control))
        {
            let shown: String = bad.chars().take(16).collect();
            return Err((field, format!("{shown:?} is not a mention")));
        }
    }
    if input.at_mobiles.is_none() && input.is_at_all.is_none() && input.mentioned_list.is_none() {
        return Ok(None);
    }
    Ok(Some(ChatOptions {
        at_mobiles: input.at_mobiles.clone().unwrap_or_default(),
        is_at_all: input.is_at_all.unwrap_or(false),
        mentioned_list: input.mentioned_list.clone().unwrap_or_default(),
    }))
}
