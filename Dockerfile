# Images for docker-compose.yml (not buildable on the development machines: no Docker engine).
# One image runs any of the three services (the command names the main class); worker-gpu swaps
# the CPU libtorch jar for the CUDA libtorch 2.7.1 (cu128) that DJL's JNI 2.7.1 supports.

FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY . .
RUN ./mvnw -B -q -DskipTests -Dspotless.check.skip=true package dependency:copy-dependencies \
      -pl local-stack -am -DincludeScope=runtime -DoutputDirectory=/app/lib \
 && cp contracts/target/*.jar platform/target/*.jar api-service/target/*.jar \
       inference-worker/target/*.jar metering-stream/target/*.jar /app/lib/ \
 && mkdir -p /app/config /app/model \
 && cp api-service/config.yml /app/config/api.yml \
 && cp inference-worker/config.yml /app/config/worker.yml \
 && cp metering-stream/config.yml /app/config/metering.yml \
 && cp -r model/tiny-kosmos /app/model/

FROM eclipse-temurin:17-jre AS services
COPY --from=build /app /app
WORKDIR /app
ENV DJL_OFFLINE=true OPT_OUT_TRACKING=true KOSMOS_MODEL_DIR=/app/model/tiny-kosmos
USER 10001
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-cp", "/app/lib/*"]

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS worker-gpu
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless unzip curl \
 && curl -fsSL -o /tmp/libtorch.zip \
      https://download.pytorch.org/libtorch/cu128/libtorch-cxx11-abi-shared-with-deps-2.7.1%2Bcu128.zip \
 && unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip \
 && apt-get purge -y unzip curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /app
RUN rm -f /app/lib/pytorch-native-cpu-*.jar
WORKDIR /app
ENV DJL_OFFLINE=true OPT_OUT_TRACKING=true \
    PYTORCH_LIBRARY_PATH=/opt/libtorch/lib PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cu128
USER 10001
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-cp", "/app/lib/*"]
