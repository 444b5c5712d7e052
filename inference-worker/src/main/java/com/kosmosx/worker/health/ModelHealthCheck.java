package com.kosmosx.worker.health;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.worker.model.ModelConfig;

/**
 * Reports the loaded model, its device, the batching limits and memory; unhealthy only if it failed
 * to load (the worker does not start then).
 */
public final class ModelHealthCheck extends HealthCheck {
  private final ModelConfig config;
  private final String device;
  private final int batchSize;
  private final long batchTokens;
  private final int maxContextTokens;

  public ModelHealthCheck(
      ModelConfig config, String device, int batchSize, long batchTokens, int maxContextTokens) {
    this.config = config;
    this.device = device;
    this.batchSize = batchSize;
    this.batchTokens = batchTokens;
    this.maxContextTokens = maxContextTokens;
  }

  @Override
  protected Result check() {
    Runtime rt = Runtime.getRuntime();
    long kvBytesPerToken =
        2L * config.numLayers() * config.numHeads() * config.headDim() * Float.BYTES;
    return Result.builder()
        .healthy()
        .withMessage("model %s on %s", config.modelType(), device)
        .withDetail("device", device)
        .withDetail("max_batch_size", batchSize)
        .withDetail("max_batch_tokens", batchTokens)
        .withDetail("kv_cache_limit_bytes", batchTokens * kvBytesPerToken)
        .withDetail("max_context_tokens", maxContextTokens)
        .withDetail("model_max_context", config.maxContext())
        .withDetail("heap_max_bytes", rt.maxMemory())
        .withDetail("heap_used_bytes", rt.totalMemory() - rt.freeMemory())
        .build();
  }
}
