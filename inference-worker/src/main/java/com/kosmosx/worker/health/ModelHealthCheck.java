package com.kosmosx.worker.health;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.worker.model.ModelConfig;

/** Reports the loaded model, its device and its limits; unhealthy only if it failed to load. */
public final class ModelHealthCheck extends HealthCheck {
  private final ModelConfig config;
  private final String device;
  private final int batchSize;

  public ModelHealthCheck(ModelConfig config, String device, int batchSize) {
    this.config = config;
    this.device = device;
    this.batchSize = batchSize;
  }

  @Override
  protected Result check() {
    return Result.builder()
        .healthy()
        .withMessage("model %s on %s", config.modelType(), device)
        .withDetail("device", device)
        .withDetail("max_batch_size", batchSize)
        .withDetail("max_context", config.maxContext())
        .withDetail("max_heap_bytes", Runtime.getRuntime().maxMemory())
        .build();
  }
}
