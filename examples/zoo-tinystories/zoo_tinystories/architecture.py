"""TinyStories architecture, run inside zoo's litert-torch toolchain: config.json -> litert-torch ModelConfig."""

MODEL_TYPE = "llama"


def model_config(hf):
    import litert_torch.generative.layers.model_config as cfg

    attn = cfg.AttentionConfig(num_heads=hf["num_attention_heads"], head_dim=hf["head_dim"],
                               num_query_groups=hf["num_key_value_heads"], rotary_base=10000, rotary_percentage=1.0)
    ff = cfg.FeedForwardConfig(type=cfg.FeedForwardType.GATED, activation=cfg.ActivationConfig(cfg.ActivationType.SILU),
                               intermediate_size=hf["intermediate_size"])
    norm = cfg.NormalizationConfig(type=cfg.NormalizationType.RMS_NORM, epsilon=hf["rms_norm_eps"])
    block = cfg.TransformerBlockConfig(attn_config=attn, ff_config=ff, pre_attention_norm_config=norm, post_attention_norm_config=norm)
    return cfg.ModelConfig(vocab_size=hf["vocab_size"], num_layers=hf["num_hidden_layers"], max_seq_len=256,
                           embedding_dim=hf["hidden_size"], block_configs=block, final_norm_config=norm,
                           lm_head_share_weight_with_embedding=False)


def tensor_names(model_builder, config):
    return model_builder.TENSOR_NAMES_WITH_SEPARATE_LM_HEAD
