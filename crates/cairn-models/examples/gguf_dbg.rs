use cairn_models::*;
fn main() {
    let r = Resolver {
        explicit_dir: None,
        ..Resolver::from_env()
    };
    let p = r
        .resolve(&SMOLLM2_135M_INSTRUCT)
        .unwrap()
        .file(SMOLLM2_FILE);
    let m = GgufChat::load(&p, Requantize::Q8_0).unwrap();
    let text = std::env::args().nth(1).unwrap_or("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n".into());
    let ids = m.encode(&text).unwrap();
    println!("{ids:?}");
    for id in &ids {
        print!("{:?} ", m.tokenizer().id_to_token(*id).unwrap());
    }
    println!();
    let mut out = String::new();
    let s = m
        .generate(
            &text,
            &GenerateParams {
                max_tokens: 40,
                ..Default::default()
            },
            &mut |p| {
                out.push_str(p);
                true
            },
        )
        .unwrap();
    println!("{out:?}\n{s:?}");
}
