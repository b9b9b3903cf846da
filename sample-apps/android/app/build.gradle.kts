// The app: no code of its own beyond the Activity. The screens, view-models and everything
// they use are sample-apps/compose/src/main/kotlin, compiled here as they are; the demo model
// ships as an uncompressed asset.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

/** The demo model alone, as the app's assets (its folder also holds the training code). */
val demoAssets = layout.buildDirectory.dir("generated/demoAssets")
val copyDemoModel by tasks.registering(Copy::class) {
    from(rootProject.file("../demo-model/bitnet-demo-i2_s.gguf"))
    into(demoAssets)
}

android {
    namespace = "dev.bitnet.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.bitnet.sample"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin", "../../compose/src/main/kotlin")
            assets.srcDir(demoAssets)
        }
    }

    androidResources {
        // The engine maps the model: it is copied out of the APK once, uncompressed.
        noCompress += "gguf"
    }

    buildFeatures {
        compose = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }
}

tasks.named("preBuild") { dependsOn(copyDemoModel) }

dependencies {
    implementation("dev.bitnet:bitnet-android:0.1.0")
    implementation(platform("androidx.compose:compose-bom:2025.01.00"))
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.foundation:foundation")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.lifecycle:lifecycle-viewmodel-ktx:2.8.7")
}
