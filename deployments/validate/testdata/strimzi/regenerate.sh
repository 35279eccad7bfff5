#!/usr/bin/env bash
# Regenerates the Strimzi CustomResourceDefinitions in this directory the way
# Strimzi's own build does (its api/pom.xml runs the same generator with the
# same flags), from the artifacts published on Maven Central: the model
# classes in io.strimzi:api and io.strimzi:crd-generator. The validation test
# reads the openAPIV3Schema of each CRD, so nothing is fetched at test time.
#
# usage: regenerate.sh [STRIMZI_VERSION]   (default 1.2.0; needs Maven and Java 21+,
#        JAVA_HOME picks the runtime)
set -euo pipefail
VERSION=${1:-1.2.0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

cat >"$WORK/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
(cd "$WORK" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)
"$JAVA" -cp "$WORK/lib/*" io.strimzi.crdgenerator.CrdGenerator \
	--label app:strimzi --label strimzi.io/crd-install:true \
	--target-kube 1.16+ --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
	io.strimzi.api.kafka.model.kafka.Kafka="$HERE/040-Crd-kafka.yaml" \
	io.strimzi.api.kafka.model.topic.KafkaTopic="$HERE/043-Crd-kafkatopic.yaml" \
	io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$HERE/045-Crd-kafkanodepool.yaml"
echo "$VERSION" >"$HERE/VERSION"
