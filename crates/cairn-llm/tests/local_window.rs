//! The offline model's context window end to end, on the real SmolLM2-135M-Instruct GGUF
//! (fetched by `cairn models fetch`, as `scripts/test` does before the tests run): a prompt
//! the runtime cannot hold is the typed, classified context error before any generation, and
//! the middleware stack knows the local window.

use cairn_core::{Classify, ErrorClass};
use cairn_llm::providers::local::{Local, DEFAULT_MODEL, DEFAULT_SPEC};
use cairn_llm::select::{build, StackOptions};
use cairn_llm::{ChatModel, ChatRequest, FinishReason, LlmError};

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test]
async fn a_prompt_over_the_local_window_is_the_typed_error_naming_limit_and_size() {
    let m = Local::new(DEFAULT_MODEL);
    assert_eq!(m.context_window().await.unwrap(), Some(4096));
    let long = ChatRequest::prompt(None, &"7".repeat(5000));
    let n = m.count_tokens(&long).await.unwrap();
    assert!(n.exact && n.tokens > 5000, "{n:?}");
    for streamed in [false, true] {
        let e = if streamed {
            m.stream(&long)
                .await
                .err()
                .expect("refused before streaming")
        } else {
            m.chat(&long).await.unwrap_err()
        };
        match &e {
            LlmError::ContextTooLong {
                model,
                tokens,
                limit: 4096,
                estimated: false,
                ..
            } if *tokens == n.tokens && model == DEFAULT_SPEC => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(e.class(), ErrorClass::ContextTooLong);
        assert!(!e.is_retryable());
        let msg = e.to_string();
        assert!(
            msg.contains(&n.tokens.to_string()) && msg.contains("context window of 4096"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn the_stack_guards_the_local_window_and_a_configured_one_cannot_raise_it() {
    let opts = StackOptions {
        context_window: Some(1_000_000),
        ..StackOptions::default()
    };
    let stack = build(&[DEFAULT_SPEC.to_string()], &opts, &no_env).unwrap();
    assert_eq!(stack.context_window().await.unwrap(), Some(4096));
    // 4,000 prompt tokens fit, but not with 200 reserved for output: refused by the guard,
    // counted with the model's own tokenizer.
    let mut req = ChatRequest::prompt(None, &"7".repeat(4000));
    let n = stack.count_tokens(&req).await.unwrap();
    assert!(n.exact && n.tokens < 4096, "{n:?}");
    req.max_output_tokens = Some(200);
    match stack.chat(&req).await {
        Err(e @ LlmError::ContextTooLong { output: 200, .. }) => {
            assert!(
                e.to_string().contains("plus 200 reserved for output"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A short request answers through the same stack.
    let mut short = ChatRequest::prompt(None, "Say hi.");
    short.max_output_tokens = Some(3);
    let r = stack.chat(&short).await.unwrap();
    assert!(r.usage.output_tokens <= 3);
    assert!(matches!(
        r.finish_reason,
        FinishReason::Length | FinishReason::Stop
    ));
}
