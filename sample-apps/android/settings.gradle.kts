// The sample app's Android shell (dev.bitnet.sample): an Activity hosting the screens and
// view-models of sample-apps/compose, compiled from that project's source directory, over the
// AAR project android/bitnet (an included build). Needs Google's Maven repository, the Android
// Gradle plugin and an NDK-built libbitnet_ffi.so (scripts/build-android.sh); see
// docs/SAMPLE-APPS.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "bitnet-sample"
include(":app")

// dev.bitnet:bitnet-android from its source project, not a published AAR.
includeBuild("../../android") {
    dependencySubstitution {
        substitute(module("dev.bitnet:bitnet-android")).using(project(":bitnet"))
    }
}
