//! The chat robot kinds and the facts each vendor documents about them: stored name, pacing,
//! size limit, whether it digests by default and whether it signs with a secret. Every number
//! cites the vendor page it comes from, so the next reader can check it.

use std::time::Duration;

/// A chat robot a delivery endpoint can post to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Slack incoming webhook (also Mattermost's Slack-compatible webhooks).
    Slack,
    /// Discord channel webhook.
    Discord,
    /// Microsoft Teams incoming webhook (Workflows "post to a channel when a webhook request is
    /// received", or the older connector), which takes an Adaptive Card attachment.
    Teams,
    /// DingTalk custom robot (钉钉自定义机器人).
    DingTalk,
    /// Feishu / Lark custom bot (飞书自定义机器人).
    Feishu,
    /// WeCom group robot (企业微信群机器人).
    WeCom,
}

impl Kind {
    /// Every kind, in the order the UI lists them.
    pub const ALL: [Kind; 6] = [
        Kind::Slack,
        Kind::Discord,
        Kind::Teams,
        Kind::DingTalk,
        Kind::Feishu,
        Kind::WeCom,
    ];

    /// The stored name (`webhook_endpoint.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Discord => "discord",
            Kind::Teams => "teams",
            Kind::DingTalk => "dingtalk",
            Kind::Feishu => "feishu",
            Kind::WeCom => "wecom",
        }
    }

    /// The kind stored as `name`; `None` for `webhook` and anything unknown.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The minimum spacing between two messages to one robot.
    pub fn pace(self) -> Duration {
        match self {
            // Slack: "Posting messages: 1 per second ... short bursts >1 allowed"
            // https://api.slack.com/docs/rate-limits
            Kind::Slack => Duration::from_secs(1),
            // Discord documents no fixed number: "rate limits should not be hard coded into
            // your app", each webhook's bucket is announced in X-RateLimit-* headers (see
            // `discord_bucket_wait`). 400 ms is our spacing until those headers say otherwise.
            // https://docs.discord.com/developers/topics/rate-limits
            Kind::Discord => Duration::from_millis(400),
            // Teams: "If more than four requests are made in a second, the client connection is
            // throttled". https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
            Kind::Teams => Duration::from_millis(250),
            // DingTalk: "每个机器人每分钟最多发送20条。如果超过20条，会限流10分钟" (20 per minute,
            // then throttled for 10 minutes). https://open.dingtalk.com/document/robots/custom-robot-access
            Kind::DingTalk => Duration::from_secs(3),
            // Feishu: "单租户单机器人 100 次/分钟，5 次/秒" (100 per minute and 5 per second);
            // 600 ms spacing keeps both.
            // https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
            Kind::Feishu => Duration::from_millis(600),
            // WeCom: "每个机器人发送的消息不能超过20条/分钟" (20 per minute).
            // https://developer.work.weixin.qq.com/document/path/91770
            Kind::WeCom => Duration::from_secs(3),
        }
    }

    /// The vendor's documented rate, for docs and the UI.
    pub fn rate_text(self) -> &'static str {
        match self {
            Kind::Slack => "1 message per second",
            Kind::Discord => "as announced per webhook in its rate-limit headers (we send at most one per 400 ms)",
            Kind::Teams => "4 requests per second",
            Kind::DingTalk => "20 messages per minute",
            Kind::Feishu => "100 messages per minute and 5 per second",
            Kind::WeCom => "20 messages per minute",
        }
    }

    /// The vendor's request or message size limit in bytes: `compose` keeps the serialised body
    /// within it (and within the field limits each format module enforces).
    pub fn body_limit(self) -> usize {
        match self {
            // Slack truncates a message past 40,000 characters; we hold the whole body to that
            // many bytes (each section text is further held to 3,000 characters).
            // https://api.slack.com/changelog/2018-04-truncating-really-long-messages
            Kind::Slack => 40_000,
            // Discord documents characters (6,000 across an embed, 4,096 in its description),
            // not bytes; 6,000 characters of up to 4 UTF-8 bytes plus the JSON around them stay
            // under 32 KiB, the byte bound we check. The character limits are enforced in
            // `compose::discord`. https://discord.com/developers/docs/resources/message#embed-object-embed-limits
            Kind::Discord => 32 * 1024,
            // Teams: "The message size limit is 28 KB" (read as 28,000 bytes, the stricter).
            // https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
            Kind::Teams => 28_000,
            // DingTalk answers errcode 460101 "message too long, exceed 20000 bytes" (its
            // console: "请保持大小在 20000bytes 以内"); the access page documents no number.
            // https://github.com/timonwong/prometheus-webhook-dingtalk/issues/30
            Kind::DingTalk => 20_000,
            // Feishu: "请求体的数据大小不能超过 20 KB" (read as 20,000 bytes, the stricter).
            // https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
            Kind::Feishu => 20_000,
            // WeCom: markdown content "最长不超过4096个字节" (at most 4,096 bytes); we hold the
            // whole body to it, which also holds the content (JSON escaping only adds bytes).
            // https://developer.work.weixin.qq.com/document/path/91770
            Kind::WeCom => 4_096,
        }
    }

    /// Whether an endpoint of this kind digests by default (robots limited to 20 a minute).
    pub fn default_digest(self) -> bool {
        matches!(self, Kind::DingTalk | Kind::WeCom)
    }

    /// Whether the robot can be set to check a signature made with a secret.
    pub fn signs_with_secret(self) -> bool {
        matches!(self, Kind::DingTalk | Kind::Feishu)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;
    use std::time::Duration;

    #[test]
    fn names_round_trip_and_webhook_is_not_a_chat_kind() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("webhook"), None);
        assert_eq!(Kind::from_name("Slack"), None);
    }

    #[test]
    fn pacing_keeps_each_documented_rate() {
        // 20 a minute is one every 3 s; 100 a minute one every 600 ms (also under 5 a second).
        assert_eq!(Kind::DingTalk.pace() * 20, Duration::from_secs(60));
        assert_eq!(Kind::WeCom.pace() * 20, Duration::from_secs(60));
        assert_eq!(Kind::Feishu.pace() * 100, Duration::from_secs(60));
        assert!(Kind::Feishu.pace() * 5 >= Duration::from_secs(1));
        assert_eq!(Kind::Teams.pace() * 4, Duration::from_secs(1));
        assert_eq!(Kind::Slack.pace(), Duration::from_secs(1));
        assert_eq!(Kind::Discord.pace(), Duration::from_millis(400));
    }

    #[test]
    fn only_dingtalk_and_wecom_digest_and_only_dingtalk_and_feishu_sign() {
        let digest: Vec<_> = Kind::ALL
            .into_iter()
            .filter(|k| k.default_digest())
            .collect();
        assert_eq!(digest, [Kind::DingTalk, Kind::WeCom]);
        let sign: Vec<_> = Kind::ALL
            .into_iter()
            .filter(|k| k.signs_with_secret())
            .collect();
        assert_eq!(sign, [Kind::DingTalk, Kind::Feishu]);
        assert_eq!(Kind::WeCom.body_limit(), 4096);
        assert!(Kind::DingTalk
            .rate_text()
            .contains("20 messages per minute"));
    }
}
